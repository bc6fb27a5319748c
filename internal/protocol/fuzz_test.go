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
		checkDecodeFast(t, b)
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
		checkDataFast(t, r.Data)
	})
}

// checkDataFast: whatever decodeLoginFast accepts, encoding/json decodes to the same
// login; and the fast encoders of login and heartbeat data write what encoding/json writes.
func checkDataFast(t *testing.T, data []byte) {
	t.Helper()
	var fast, slow LoginData
	if decodeLoginFast(data, &fast) {
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("login fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if fast != slow {
			t.Fatalf("login fast path read %q as %+v, encoding/json as %+v", data, fast, slow)
		}
	}
	var hb HeartbeatData
	_ = json.Unmarshal(data, &slow) // whatever it could read
	_ = json.Unmarshal(data, &hb)
	for _, v := range []any{slow, hb} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := encodeDataFast(v); ok && !bytes.Equal(got, want) {
			t.Fatalf("fast encoding of %+v is %s, encoding/json's %s", v, got, want)
		}
	}
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

// checkDecodeFast: whatever the fast path accepts, encoding/json decodes to the same request.
func checkDecodeFast(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := decodeFast(b)
	if !ok {
		return
	}
	slow, err := decodeSlow(b)
	if err != nil && !errors.Is(err, ErrEmptyCmd) {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", b, err)
	}
	if fast.Seq != slow.Seq || fast.Cmd != slow.Cmd || !bytes.Equal(fast.Data, slow.Data) || (fast.Data == nil) != (slow.Data == nil) {
		t.Fatalf("fast path read %q as %+v, encoding/json as %+v", b, fast, slow)
	}
}

// checkResponseFast: the fast encoder writes what encoding/json writes, and whatever the
// fast decoder accepts, encoding/json decodes to the same response.
func checkResponseFast(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := decodeResponseFast(b)
	if !ok {
		return
	}
	var slow Response
	if err := json.Unmarshal(b, &slow); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", b, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path read %q as %+v, encoding/json as %+v", b, fast, slow)
	}
}

// FuzzResponse builds responses from arbitrary fields and decodes arbitrary bytes as a
// response: the fast paths must agree with encoding/json.
func FuzzResponse(f *testing.F) {
	f.Add("1-2", "heartbeat", 200, "Success", "hello", []byte(`{"seq":"1","cmd":"login","response":{"code":200,"codeMsg":"Success","data":null}}`))
	f.Add("<seq>", "msg", 1005, "not \"online\"", "a&b", []byte(`{"seq":"1","cmd":"x","response":{"code":200,"codeMsg":"Ok","data":{"a":1}},"x":2}`))
	f.Fuzz(func(t *testing.T, seq, cmd string, code int, codeMsg, msg string, b []byte) {
		checkResponseFast(t, b)
		if codeMsg == "" {
			codeMsg = "x" // EncodeResponse fills an empty codeMsg in; compare like with like
		}
		data := Message{Type: TypeText, Msg: msg}
		got, err := EncodeResponse(seq, cmd, Code(code), codeMsg, data)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(data)
		want, _ := json.Marshal(Response{Seq: seq, Cmd: cmd, Response: Result{Code: Code(code), CodeMsg: codeMsg, Data: raw}})
		if !bytes.Equal(got, want) {
			t.Fatalf("EncodeResponse wrote\n%s\nencoding/json writes\n%s", got, want)
		}
		checkResponseFast(t, got)
	})
}
