package pace

import "testing"

func TestBucket_PacesToTheRate(t *testing.T) {
	tests := []struct {
		name   string
		rate   float64
		burst  int
		stepNs int64
		steps  int
		want   int
	}{
		{"1000/s over 1s in 1ms steps", 1000, 10, 1e6, 1000, 1000 + 10},
		{"100/s over 2s in 7ms steps", 100, 2, 7e6, 286, 200 + 2 - 1},
		// The bucket starts full, so the first step's 60 tokens overflow it.
		{"20000/s over 1s in 3ms steps", 20000, 400, 3e6, 333, 19980 + 400 - 60},
		{"unlimited", 0, 1, 1e6, 10, 10 * 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := int64(1e9)
			b := New(tt.rate, tt.burst, float64(tt.burst), now)
			got := 0
			for range tt.steps {
				now += tt.stepNs
				got += b.Take(tt.burst*50, now)
			}
			if diff := got - tt.want; diff < -2 || diff > 2 {
				t.Fatalf("took %d tokens, want about %d", got, tt.want)
			}
			if tt.rate == 0 {
				return
			}
			w := b.Wait(now)
			if w <= 0 || b.Take(1, now+w-w/10-1) != 0 || b.Take(1, now+w) != 1 {
				t.Fatalf("wait %d does not point at the next token", w)
			}
		})
	}
}
