// Package wsframe encodes and decodes RFC 6455 WebSocket frames and handshakes on byte
// slices, without doing any I/O. The server's event-driven connection engine and bench's
// client both feed it bytes they read from non-blocking sockets.
package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Opcode is a frame opcode (RFC 6455 section 5.2).
type Opcode byte

// Opcodes.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// Known reports whether op is defined by RFC 6455.
func (op Opcode) Known() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// MaxHeaderLen is the longest frame header: 2 + 8 (length) + 4 (mask).
const MaxHeaderLen = 14

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // the three reserved bits, in the low bits (RSV1 = 4)
	Op     Opcode
	Masked bool
	Mask   [4]byte
	Length int64
}

// ErrProtocol is wrapped by every framing error; the peer should be closed with 1002.
var ErrProtocol = errors.New("websocket protocol error")

// ParseHeader decodes the frame header at the start of b. It returns the header and its
// length in bytes, or n == 0 and no error when b does not yet hold a whole header.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 0, nil
	}
	h := Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] >> 4) & 0x7,
		Op:     Opcode(b[0] & 0x0f),
		Masked: b[1]&0x80 != 0,
	}
	n := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return Header{}, 0, nil
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return Header{}, 0, nil
		}
		v := binary.BigEndian.Uint64(b[2:10])
		if v>>63 != 0 {
			return Header{}, 0, fmt.Errorf("%w: 64-bit length with the top bit set", ErrProtocol)
		}
		h.Length = int64(v)
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return Header{}, 0, nil
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// Check validates a header against the rules that do not depend on connection state:
// reserved bits (none negotiated), known opcodes, control frame size and fragmentation.
func (h Header) Check() error {
	if h.Rsv != 0 {
		return fmt.Errorf("%w: reserved bits set", ErrProtocol)
	}
	if !h.Op.Known() {
		return fmt.Errorf("%w: reserved opcode %#x", ErrProtocol, byte(h.Op))
	}
	if h.Op.IsControl() {
		if !h.Fin {
			return fmt.Errorf("%w: fragmented control frame", ErrProtocol)
		}
		if h.Length > MaxControlPayload {
			return fmt.Errorf("%w: control frame payload of %d bytes", ErrProtocol, h.Length)
		}
	}
	return nil
}

// AppendHeader appends a frame header for a payload of length n. A nil mask means an
// unmasked (server) frame.
func AppendHeader(dst []byte, fin bool, op Opcode, n int, mask *[4]byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	var mbit byte
	if mask != nil {
		mbit = 0x80
	}
	switch {
	case n <= 125:
		dst = append(dst, b0, mbit|byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, mbit|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, mbit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}

// AppendFrame appends a whole frame carrying payload. With a mask, the payload is masked
// as it is copied (payload itself is not modified).
func AppendFrame(dst []byte, fin bool, op Opcode, payload []byte, mask *[4]byte) []byte {
	dst = AppendHeader(dst, fin, op, len(payload), mask)
	start := len(dst)
	dst = append(dst, payload...)
	if mask != nil {
		MaskBytes(dst[start:], *mask, 0)
	}
	return dst
}

// FrameLen returns the length of a frame with an n-byte payload.
func FrameLen(n int, masked bool) int {
	l := 2 + n
	switch {
	case n > 0xffff:
		l += 8
	case n > 125:
		l += 2
	}
	if masked {
		l += 4
	}
	return l
}

// MaskBytes XORs b with the mask key starting at key offset pos (mod 4) and returns the
// offset after b, for continuing over a payload that arrives in pieces.
func MaskBytes(b []byte, key [4]byte, pos int) int {
	pos &= 3
	i := 0
	// Align to a 4-byte key boundary, then work 8 bytes at a time.
	for ; i < len(b) && pos != 0; i++ {
		b[i] ^= key[pos]
		pos = (pos + 1) & 3
	}
	if rest := len(b) - i; rest >= 8 {
		k32 := binary.LittleEndian.Uint32(key[:])
		k64 := uint64(k32) | uint64(k32)<<32
		for ; len(b)-i >= 8; i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(b[i:], v^k64)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[pos]
		pos = (pos + 1) & 3
	}
	return pos
}

// ClosePayload builds the payload of a close frame. Code 0 means no status (empty payload).
// The reason is truncated so the payload fits a control frame.
func ClosePayload(code uint16, reason string) []byte {
	if code == 0 {
		return nil
	}
	if len(reason) > MaxControlPayload-2 {
		reason = reason[:MaxControlPayload-2]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	b := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(b, code)
	return append(b, reason...)
}

// ParseClose decodes a close frame's payload. An empty payload yields code 0 (1005, "no
// status", in RFC terms). It fails for a 1-byte payload, a code a peer may not send, or a
// reason that is not UTF-8.
func ParseClose(p []byte) (uint16, string, error) {
	switch len(p) {
	case 0:
		return 0, "", nil
	case 1:
		return 0, "", fmt.Errorf("%w: 1-byte close payload", ErrProtocol)
	}
	code := binary.BigEndian.Uint16(p)
	if !ValidCloseCode(code) {
		return 0, "", fmt.Errorf("%w: invalid close code %d", ErrProtocol, code)
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return 0, "", fmt.Errorf("%w: close reason is not UTF-8", ErrInvalidUTF8)
	}
	return code, string(reason), nil
}

// ValidCloseCode reports whether a peer may send code in a close frame (RFC 6455 section
// 7.4 and the IANA registry): 1000-1003, 1007-1014 and 3000-4999.
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ErrInvalidUTF8 is returned for text that is not valid UTF-8; the peer should be closed
// with 1007.
var ErrInvalidUTF8 = errors.New("invalid UTF-8 in text message")
