package wsframe

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeader_RoundTripsEveryLengthEncoding(t *testing.T) {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	tests := []struct {
		name    string
		length  int
		wantLen int // header bytes without the mask
	}{
		{name: "empty", length: 0, wantLen: 2},
		{name: "1", length: 1, wantLen: 2},
		{name: "125 is the largest 7-bit length", length: 125, wantLen: 2},
		{name: "126 needs 16 bits", length: 126, wantLen: 4},
		{name: "127", length: 127, wantLen: 4},
		{name: "128", length: 128, wantLen: 4},
		{name: "65535 is the largest 16-bit length", length: 65535, wantLen: 4},
		{name: "65536 needs 64 bits", length: 65536, wantLen: 10},
		{name: "4 GiB", length: 1 << 32, wantLen: 10},
		{name: "largest 63-bit length", length: 1<<63 - 1, wantLen: 10},
	}
	for _, tt := range tests {
		for _, op := range []Opcode{OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong} {
			for _, fin := range []bool{true, false} {
				for _, m := range []*[4]byte{nil, &mask} {
					h := AppendHeader(nil, fin, op, tt.length, m)
					want := tt.wantLen
					if m != nil {
						want += 4
					}
					if len(h) != want {
						t.Fatalf("%s op %d fin %v masked %v: header is %d bytes, want %d", tt.name, op, fin, m != nil, len(h), want)
					}
					if tt.length < 1<<20 {
						if got := FrameLen(tt.length, m != nil); got != want+tt.length {
							t.Fatalf("%s: FrameLen = %d, want %d", tt.name, got, want+tt.length)
						}
					}
					got, n, err := ParseHeader(append(h, 0xAA)) // a payload byte after the header
					if err != nil || n != len(h) {
						t.Fatalf("%s: ParseHeader = %d, %v; want %d", tt.name, n, err, len(h))
					}
					wantH := Header{Fin: fin, Op: op, Masked: m != nil, Length: int64(tt.length)}
					if m != nil {
						wantH.Mask = mask
					}
					if got != wantH {
						t.Fatalf("%s: parsed %+v, want %+v", tt.name, got, wantH)
					}
				}
			}
		}
	}
}

func TestParseHeader_WaitsForTheWholeHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name   string
		header []byte
	}{
		{name: "7-bit unmasked", header: AppendHeader(nil, true, OpText, 5, nil)},
		{name: "7-bit masked", header: AppendHeader(nil, true, OpText, 5, &mask)},
		{name: "16-bit unmasked", header: AppendHeader(nil, true, OpBinary, 300, nil)},
		{name: "16-bit masked", header: AppendHeader(nil, true, OpBinary, 300, &mask)},
		{name: "64-bit unmasked", header: AppendHeader(nil, false, OpBinary, 70000, nil)},
		{name: "64-bit masked", header: AppendHeader(nil, false, OpBinary, 70000, &mask)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range len(tt.header) {
				h, n, err := ParseHeader(tt.header[:i])
				if n != 0 || err != nil || h != (Header{}) {
					t.Fatalf("prefix of %d bytes: got %+v, %d, %v; want nothing yet", i, h, n, err)
				}
			}
			if _, n, err := ParseHeader(tt.header); n != len(tt.header) || err != nil {
				t.Fatalf("whole header: %d, %v", n, err)
			}
		})
	}
}

func TestParseHeader_Bits(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Header
	}{
		{name: "fin text", in: []byte{0x81, 0x00}, want: Header{Fin: true, Op: OpText}},
		{name: "no fin continuation", in: []byte{0x00, 0x03}, want: Header{Op: OpContinuation, Length: 3}},
		{name: "RSV1", in: []byte{0xC1, 0x00}, want: Header{Fin: true, Rsv: 4, Op: OpText}},
		{name: "RSV2", in: []byte{0xA1, 0x00}, want: Header{Fin: true, Rsv: 2, Op: OpText}},
		{name: "RSV3", in: []byte{0x91, 0x00}, want: Header{Fin: true, Rsv: 1, Op: OpText}},
		{name: "all RSV", in: []byte{0x7F, 0x00}, want: Header{Rsv: 7, Op: 0xF}},
		{name: "masked ping", in: []byte{0x89, 0x82, 9, 8, 7, 6}, want: Header{Fin: true, Op: OpPing, Masked: true, Mask: [4]byte{9, 8, 7, 6}, Length: 2}},
		{name: "non-minimal 16-bit length", in: []byte{0x82, 126, 0, 5}, want: Header{Fin: true, Op: OpBinary, Length: 5}},
		{name: "non-minimal 64-bit length", in: []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5}, want: Header{Fin: true, Op: OpBinary, Length: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := ParseHeader(tt.in)
			if err != nil || n != len(tt.in) || got != tt.want {
				t.Fatalf("got %+v, %d, %v; want %+v, %d", got, n, err, tt.want, len(tt.in))
			}
		})
	}
}

func TestParseHeader_RejectsLengthWithTopBit(t *testing.T) {
	b := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}
	if _, _, err := ParseHeader(b); !errors.Is(err, ErrProtocol) {
		t.Fatalf("want ErrProtocol, got %v", err)
	}
}

func TestHeader_Check(t *testing.T) {
	tests := []struct {
		name    string
		h       Header
		wantErr bool
	}{
		{name: "text", h: Header{Fin: true, Op: OpText, Length: 1 << 20}},
		{name: "fragment start", h: Header{Op: OpBinary, Length: 10}},
		{name: "continuation", h: Header{Op: OpContinuation}},
		{name: "ping 125", h: Header{Fin: true, Op: OpPing, Length: 125}},
		{name: "close 125", h: Header{Fin: true, Op: OpClose, Length: 125}},
		{name: "pong 0", h: Header{Fin: true, Op: OpPong}},
		{name: "RSV1", h: Header{Fin: true, Rsv: 4, Op: OpText}, wantErr: true},
		{name: "RSV2", h: Header{Fin: true, Rsv: 2, Op: OpText}, wantErr: true},
		{name: "RSV3", h: Header{Fin: true, Rsv: 1, Op: OpText}, wantErr: true},
		{name: "opcode 3", h: Header{Fin: true, Op: 3}, wantErr: true},
		{name: "opcode 7", h: Header{Fin: true, Op: 7}, wantErr: true},
		{name: "opcode 0xB", h: Header{Fin: true, Op: 0xB}, wantErr: true},
		{name: "opcode 0xF", h: Header{Fin: true, Op: 0xF}, wantErr: true},
		{name: "ping 126", h: Header{Fin: true, Op: OpPing, Length: 126}, wantErr: true},
		{name: "close 126", h: Header{Fin: true, Op: OpClose, Length: 126}, wantErr: true},
		{name: "fragmented ping", h: Header{Op: OpPing}, wantErr: true},
		{name: "fragmented close", h: Header{Op: OpClose, Length: 2}, wantErr: true},
		{name: "fragmented pong", h: Header{Op: OpPong}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Check()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("Check() error %v does not wrap ErrProtocol", err)
			}
		})
	}
}

func TestOpcode_Classes(t *testing.T) {
	for op := Opcode(0); op < 16; op++ {
		wantControl := op >= 8
		wantKnown := op <= 2 || (op >= 8 && op <= 0xA)
		if op.IsControl() != wantControl || op.Known() != wantKnown {
			t.Errorf("opcode %#x: IsControl %v Known %v, want %v %v", byte(op), op.IsControl(), op.Known(), wantControl, wantKnown)
		}
	}
}

func TestAppendFrame_MasksACopy(t *testing.T) {
	mask := [4]byte{0xde, 0xad, 0xbe, 0xef}
	payload := []byte("Hello, masked world! This payload is longer than eight bytes.")
	orig := bytes.Clone(payload)
	f := AppendFrame([]byte("prefix"), true, OpText, payload, &mask)
	if !bytes.Equal(payload, orig) {
		t.Fatal("AppendFrame modified its payload argument")
	}
	f = f[len("prefix"):]
	h, n, err := ParseHeader(f)
	if err != nil || n == 0 {
		t.Fatal(n, err)
	}
	body := bytes.Clone(f[n:])
	if bytes.Equal(body, payload) {
		t.Fatal("payload was not masked")
	}
	MaskBytes(body, h.Mask, 0)
	if !bytes.Equal(body, payload) || h.Length != int64(len(payload)) {
		t.Fatalf("unmasked payload %q, want %q", body, payload)
	}
	if len(f) != FrameLen(len(payload), true) {
		t.Fatalf("frame is %d bytes, FrameLen says %d", len(f), FrameLen(len(payload), true))
	}
}

func TestAppendFrame_UnmaskedIsVerbatim(t *testing.T) {
	f := AppendFrame(nil, true, OpBinary, []byte{1, 2, 3}, nil)
	if want := []byte{0x82, 3, 1, 2, 3}; !bytes.Equal(f, want) {
		t.Fatalf("got % x, want % x", f, want)
	}
}

// naiveMask is the RFC 6455 section 5.3 definition: octet i XOR key[(pos+i) mod 4].
func naiveMask(b []byte, key [4]byte, pos int) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

func TestMaskBytes_MatchesNaiveXORAtEveryOffset(t *testing.T) {
	key := [4]byte{0x01, 0x23, 0x45, 0x67}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 70; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		for pos := 0; pos < 8; pos++ {
			got := bytes.Clone(src)
			next := MaskBytes(got, key, pos)
			want := bytes.Clone(src)
			naiveMask(want, key, pos)
			if !bytes.Equal(got, want) {
				t.Fatalf("len %d pos %d: got % x, want % x", n, pos, got, want)
			}
			if wantNext := (pos + n) % 4; next != wantNext {
				t.Fatalf("len %d pos %d: next offset %d, want %d", n, pos, next, wantNext)
			}
		}
	}
}

func TestMaskBytes_InPiecesEqualsWhole(t *testing.T) {
	key := [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	src := []byte(strings.Repeat("0123456789abcdef", 5)[:77])
	whole := bytes.Clone(src)
	MaskBytes(whole, key, 0)
	for split := 0; split <= len(src); split++ {
		for split2 := split; split2 <= len(src); split2++ {
			got := bytes.Clone(src)
			pos := MaskBytes(got[:split], key, 0)
			pos = MaskBytes(got[split:split2], key, pos)
			MaskBytes(got[split2:], key, pos)
			if !bytes.Equal(got, whole) {
				t.Fatalf("splits %d,%d: got % x, want % x", split, split2, got, whole)
			}
		}
	}
}

func TestMaskBytes_IsAnInvolution(t *testing.T) {
	key := [4]byte{9, 99, 199, 255}
	src := []byte("a payload masked twice is the payload again")
	b := bytes.Clone(src)
	MaskBytes(b, key, 3)
	MaskBytes(b, key, 3)
	if !bytes.Equal(b, src) {
		t.Fatalf("got %q", b)
	}
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		name       string
		payload    []byte
		wantCode   uint16
		wantReason string
		wantErr    error // nil, ErrProtocol or ErrInvalidUTF8
	}{
		{name: "empty means no status", payload: nil},
		{name: "1000", payload: []byte{0x03, 0xe8}, wantCode: 1000},
		{name: "1000 with reason", payload: append([]byte{0x03, 0xe8}, "bye"...), wantCode: 1000, wantReason: "bye"},
		{name: "4001 with UTF-8 reason", payload: append([]byte{0x0f, 0xa1}, "κόσμε"...), wantCode: 4001, wantReason: "κόσμε"},
		{name: "3000", payload: []byte{0x0b, 0xb8}, wantCode: 3000},
		{name: "4999", payload: []byte{0x13, 0x87}, wantCode: 4999},
		{name: "one byte", payload: []byte{0x03}, wantErr: ErrProtocol},
		{name: "code 0", payload: []byte{0, 0}, wantErr: ErrProtocol},
		{name: "code 999", payload: []byte{0x03, 0xe7}, wantErr: ErrProtocol},
		{name: "code 1005 may not be sent", payload: []byte{0x03, 0xed}, wantErr: ErrProtocol},
		{name: "code 1006 may not be sent", payload: []byte{0x03, 0xee}, wantErr: ErrProtocol},
		{name: "code 5000", payload: []byte{0x13, 0x88}, wantErr: ErrProtocol},
		{name: "invalid UTF-8 reason", payload: []byte{0x03, 0xe8, 0xce, 0xba, 0xe1, 0xbd}, wantErr: ErrInvalidUTF8},
		{name: "surrogate in reason", payload: []byte{0x03, 0xe8, 0xed, 0xa0, 0x80}, wantErr: ErrInvalidUTF8},
		{name: "invalid code beats invalid reason", payload: []byte{0x03, 0xed, 0xff}, wantErr: ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClose(tt.payload)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == ErrInvalidUTF8 && errors.Is(err, ErrProtocol) {
					t.Fatalf("a bad reason must map to 1007, not 1002: %v", err)
				}
				return
			}
			if err != nil || code != tt.wantCode || reason != tt.wantReason {
				t.Fatalf("got %d %q %v, want %d %q", code, reason, err, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func TestValidCloseCode(t *testing.T) {
	tests := []struct {
		name  string
		codes []uint16
		want  bool
	}{
		{name: "standard codes a peer may send", codes: []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}, want: true},
		{name: "registered and private ranges", codes: []uint16{3000, 3999, 4000, 4001, 4999}, want: true},
		{name: "below the range", codes: []uint16{0, 1, 999}},
		{name: "reserved and never sent", codes: []uint16{1004, 1005, 1006, 1015}},
		{name: "unassigned", codes: []uint16{1016, 1100, 2000, 2999}},
		{name: "above the range", codes: []uint16{5000, 65535}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range tt.codes {
				if got := ValidCloseCode(c); got != tt.want {
					t.Errorf("ValidCloseCode(%d) = %v, want %v", c, got, tt.want)
				}
			}
		})
	}
}

func TestClosePayload(t *testing.T) {
	tests := []struct {
		name       string
		code       uint16
		reason     string
		wantReason string
	}{
		{name: "no status", code: 0, reason: "ignored"},
		{name: "code only", code: 1000},
		{name: "code and reason", code: 1001, reason: "server going away", wantReason: "server going away"},
		{name: "123-byte reason fits", code: 4001, reason: strings.Repeat("r", 123), wantReason: strings.Repeat("r", 123)},
		{name: "124-byte reason is cut", code: 4001, reason: strings.Repeat("r", 124), wantReason: strings.Repeat("r", 123)},
		{name: "cut on a rune boundary", code: 1008, reason: strings.Repeat("é", 70), wantReason: strings.Repeat("é", 61)},
		{name: "cut before a 4-byte rune", code: 1008, reason: strings.Repeat("a", 121) + "😀", wantReason: strings.Repeat("a", 121)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ClosePayload(tt.code, tt.reason)
			if tt.code == 0 {
				if len(p) != 0 {
					t.Fatalf("want an empty payload, got % x", p)
				}
				return
			}
			if len(p) > MaxControlPayload {
				t.Fatalf("payload of %d bytes does not fit a control frame", len(p))
			}
			code, reason, err := ParseClose(p)
			if err != nil || code != tt.code || reason != tt.wantReason {
				t.Fatalf("ParseClose = %d %q %v, want %d %q", code, reason, err, tt.code, tt.wantReason)
			}
			if !utf8.ValidString(reason) {
				t.Fatal("reason is not UTF-8")
			}
		})
	}
}
