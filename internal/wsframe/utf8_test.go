package wsframe

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// utf8Cases are the classic validator cases (after Autobahn section 6 and Markus Kuhn's
// UTF-8 decoder stress test). The expected verdict is utf8.Valid's.
var utf8Cases = []struct {
	name string
	in   string
}{
	{name: "empty", in: ""},
	{name: "ASCII", in: "Hello, world"},
	{name: "kosme", in: "κόσμε"},
	{name: "mixed", in: "Hello-µ@ßöäüàá-UTF-8!!"},
	{name: "first of each length", in: "\x00\u0080\u0800\U00010000"},
	{name: "last of each length", in: "\x7f\u07ff\uffff\U0010ffff"},
	{name: "around the surrogates", in: "\ud7ff\ue000\ufffd"},
	{name: "noncharacters are valid", in: "\ufffe\uffff\U0001fffe"},
	{name: "long ASCII run then multibyte", in: "abcdefghijklmnopqrstuvwxyz0123456789é"},
	{name: "lone continuation 0x80", in: "\x80"},
	{name: "lone continuation 0xbf", in: "\xbf"},
	{name: "continuations after ASCII", in: "ab\x80\xbf"},
	{name: "lead 0xc0 overlong", in: "\xc0\xaf"},
	{name: "lead 0xc1 overlong", in: "\xc1\xbf"},
	{name: "overlong 3-byte slash", in: "\xe0\x80\xaf"},
	{name: "overlong 3-byte max", in: "\xe0\x9f\xbf"},
	{name: "overlong 4-byte slash", in: "\xf0\x80\x80\xaf"},
	{name: "overlong 4-byte max", in: "\xf0\x8f\xbf\xbf"},
	{name: "high surrogate", in: "\xed\xa0\x80"},
	{name: "low surrogate", in: "\xed\xbf\xbf"},
	{name: "surrogate pair", in: "\xed\xa0\x80\xed\xb0\x80"},
	{name: "above U+10FFFF", in: "\xf4\x90\x80\x80"},
	{name: "lead 0xf5", in: "\xf5\x80\x80\x80"},
	{name: "5-byte sequence", in: "\xf8\x88\x80\x80\x80"},
	{name: "6-byte sequence", in: "\xfc\x84\x80\x80\x80\x80"},
	{name: "0xfe", in: "\xfe"},
	{name: "0xff", in: "\xff"},
	{name: "truncated 2-byte", in: "a\xce"},
	{name: "truncated 3-byte", in: "a\xe2\x82"},
	{name: "truncated 4-byte", in: "a\xf0\x9f\x98"},
	{name: "kosme missing its last byte", in: "κόσμ\xce"},
	{name: "lead followed by ASCII", in: "\xce a"},
	{name: "two leads", in: "\xe2\xe2\x82\xac"},
	{name: "valid then invalid", in: "κόσμε\xed\xa0\x80edited"},
}

// feedAll feeds pieces to a fresh validator and reports the verdict on the whole.
func feedAll(pieces ...[]byte) bool {
	var u UTF8
	for _, p := range pieces {
		if !u.Feed(p) {
			return false
		}
	}
	return u.Complete()
}

func TestUTF8_MatchesUTF8Valid(t *testing.T) {
	for _, tt := range utf8Cases {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			if got, want := feedAll(b), utf8.Valid(b); got != want {
				t.Fatalf("whole: got %v, want %v", got, want)
			}
		})
	}
}

func TestUTF8_EverySplitPoint(t *testing.T) {
	for _, tt := range utf8Cases {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			want := utf8.Valid(b)
			for i := 0; i <= len(b); i++ {
				for j := i; j <= len(b); j++ {
					if got := feedAll(b[:i], b[i:j], b[j:]); got != want {
						t.Fatalf("split at %d,%d: got %v, want %v", i, j, got, want)
					}
				}
			}
			pieces := make([][]byte, len(b))
			for i := range b {
				pieces[i] = b[i : i+1]
			}
			if got := feedAll(pieces...); got != want {
				t.Fatalf("byte by byte: got %v, want %v", got, want)
			}
		})
	}
}

func TestUTF8_FailsAtTheFirstBadByte(t *testing.T) {
	tests := []struct {
		name string
		in   string // invalid as soon as its last byte arrives
	}{
		{name: "surrogate second byte", in: "\xed\xa0"},
		{name: "overlong second byte", in: "\xe0\x80"},
		{name: "4-byte overlong second byte", in: "\xf0\x8f"},
		{name: "above U+10FFFF second byte", in: "\xf4\x90"},
		{name: "bad lead", in: "ok\xc0"},
		{name: "ASCII where a continuation is due", in: "\xe2\x82A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			var u UTF8
			if !u.Feed(b[:len(b)-1]) {
				t.Fatal("rejected a valid prefix")
			}
			if u.Feed(b[len(b)-1:]) {
				t.Fatal("accepted the byte that makes the text invalid")
			}
		})
	}
}

func TestUTF8_Complete(t *testing.T) {
	var u UTF8
	if !u.Complete() {
		t.Fatal("the zero value is not at a boundary")
	}
	u.Feed([]byte("\xe2\x82"))
	if u.Complete() {
		t.Fatal("Complete in the middle of a character")
	}
	u.Feed([]byte("\xac"))
	if !u.Complete() {
		t.Fatal("not Complete after the last byte of €")
	}
	u.Feed([]byte("\xf0"))
	u.Reset()
	if !u.Complete() || !u.Feed([]byte("a")) {
		t.Fatal("Reset does not start over")
	}
}

// randomUTF8ish returns bytes that are often, but not always, valid UTF-8.
func randomUTF8ish(rng *rand.Rand) []byte {
	alphabet := []byte{'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff}
	var b []byte
	for range rng.IntN(24) {
		switch rng.IntN(3) {
		case 0:
			b = utf8.AppendRune(b, rune(rng.IntN(0x110000)))
		case 1:
			b = append(b, byte(rng.IntN(0x80)))
		default:
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
	}
	return b
}

func TestUTF8_RandomInputsAndSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(6455, 3629))
	for range 20000 {
		b := randomUTF8ish(rng)
		i := rng.IntN(len(b) + 1)
		j := i + rng.IntN(len(b)-i+1)
		if got, want := feedAll(b[:i], b[i:j], b[j:]), utf8.Valid(b); got != want {
			t.Fatalf("% x split at %d,%d: got %v, want %v", b, i, j, got, want)
		}
	}
}
