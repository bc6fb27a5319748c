package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds Decode untrusted bytes, as the server does with every text frame. It
// must never panic; a decoded request must survive EncodeRequest and Decode unchanged;
// a failure must be a *DecodeError; and the typed data decoders must not panic either.
// The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"seq":"1565336219141-266129","cmd":"login","data":{"userId":"u1","appId":101,"serviceToken":""}}`))
	f.Add([]byte(`{"seq":"2","cmd":"send","data":{"to":"u2","type":"text","msg":"<hi>"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error %T is not a *DecodeError: %v", err, err)
			}
			if !errors.Is(err, ErrEmptyCmd) && (r.Seq != "" || r.Cmd != "" || r.Data != nil) {
				t.Fatalf("failed Decode returned a request: %+v", r)
			}
			return
		}
		if r.Cmd == "" {
			t.Fatal("Decode accepted a request without cmd")
		}
		enc, err := EncodeRequest(r.Seq, r.Cmd, r.Data)
		if err != nil {
			t.Fatalf("EncodeRequest of a decoded request: %v", err)
		}
		r2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%q) of a re-encoded request: %v", enc, err)
		}
		if r2.Seq != r.Seq || r2.Cmd != r.Cmd {
			t.Fatalf("round trip changed seq/cmd: %q %q -> %q %q", r.Seq, r.Cmd, r2.Seq, r2.Cmd)
		}
		if (r.Data == nil) != (r2.Data == nil) {
			t.Fatalf("round trip changed data presence: %q -> %q", r.Data, r2.Data)
		}
		if !sameJSON(r.Data, r2.Data) {
			t.Fatalf("round trip changed data: %q -> %q", r.Data, r2.Data)
		}
		// Encoding is stable after one round.
		enc2, err := EncodeRequest(r2.Seq, r2.Cmd, r2.Data)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %q then %q (%v)", enc, enc2, err)
		}
		checkTypedData(t, r.Data)
	})
}

// checkTypedData decodes data as every command's data type; what decodes must re-encode
// and decode to the same value.
func checkTypedData(t *testing.T, data json.RawMessage) {
	t.Helper()
	targets := []func() any{
		func() any { return new(LoginData) },
		func() any { return new(HeartbeatData) },
		func() any { return new(SendData) },
		func() any { return new(RoomData) },
		func() any { return new(UsersData) },
		func() any { return new(RefreshData) },
	}
	for _, newV := range targets {
		v := newV()
		if DecodeData(data, v) != nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encoding %T: %v", v, err)
		}
		again := newV()
		if err := json.Unmarshal(b, again); err != nil {
			t.Fatalf("decoding re-encoded %T %s: %v", v, b, err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("%T changed in a round trip: %+v -> %+v", v, v, again)
		}
	}
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	errA := json.Unmarshal(a, &va)
	errB := json.Unmarshal(b, &vb)
	if errA != nil || errB != nil {
		return (errA != nil) == (errB != nil)
	}
	return reflect.DeepEqual(va, vb)
}
