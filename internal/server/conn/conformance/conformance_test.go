//go:build linux

package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Close codes the engine sends.
const (
	codeNormal   = 1000
	codeProtocol = 1002
	codeUTF8     = 1007
	codeTooBig   = 1009
)

// pattern returns n bytes that are not all alike, so a shifted or unmasked echo shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// asciiText returns n bytes of printable ASCII that are not all alike.
func asciiText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('!' + i%94)
	}
	return string(b)
}

// fragments splits payload into n fragments of op (continuations after the first).
func fragments(op byte, payload []byte, n int) [][]byte {
	size := (len(payload) + n - 1) / n
	var out [][]byte
	for i := range n {
		lo, hi := min(i*size, len(payload)), min((i+1)*size, len(payload))
		fop := opCont
		if i == 0 {
			fop = op
		}
		out = append(out, frame(i == n-1, fop, payload[lo:hi]))
	}
	return out
}

func TestSection1_Framing(t *testing.T) {
	var cases []testCase
	for i, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
		s := asciiText(n)
		cases = append(cases, testCase{
			name: fmt.Sprintf("1.1.%d text of %d bytes", i+1, n),
			send: oneWrite(text(s)), want: []expect{echoText(s)},
		})
		b := pattern(n)
		cases = append(cases, testCase{
			name: fmt.Sprintf("1.2.%d binary of %d bytes", i+1, n),
			send: oneWrite(msg(opBinary, b)), want: []expect{echo(opBinary, b)},
		})
	}
	big := pattern(65536)
	var twenty [][]byte
	var twentyWant []expect
	for i := range 20 {
		s := fmt.Sprintf("message %d %s", i, asciiText(i*7))
		twenty = append(twenty, text(s))
		twentyWant = append(twentyWant, echoText(s))
	}
	mixed := [][]byte{text("one"), msg(opBinary, []byte{0, 1, 2}), text("κόσμε"), msg(opBinary, nil)}
	cases = append(cases,
		testCase{name: "1.1.8 text of 65536 bytes in 997-byte chunks", send: oneWrite(text(asciiText(65536))), chunk: 997, want: []expect{echoText(asciiText(65536))}},
		testCase{name: "1.2.8 binary of 65536 bytes in 997-byte chunks", send: oneWrite(msg(opBinary, big)), chunk: 997, want: []expect{echo(opBinary, big)}},
		byteWise(testCase{name: "1.3.1 text of 125 bytes byte by byte", send: oneWrite(text(asciiText(125))), want: []expect{echoText(asciiText(125))}}),
		byteWise(testCase{name: "1.3.2 binary of 300 bytes byte by byte", send: oneWrite(msg(opBinary, pattern(300))), want: []expect{echo(opBinary, pattern(300))}}),
		testCase{name: "1.3.3 binary of 65536 bytes in 13-byte chunks", send: oneWrite(msg(opBinary, big)), chunk: 13, want: []expect{echo(opBinary, big)}},
		testCase{name: "1.3.4 twenty messages in one write", send: oneWrite(twenty...), want: twentyWant},
		byteWise(testCase{name: "1.3.5 text and binary alternating byte by byte", send: oneWrite(mixed...), want: []expect{
			echoText("one"), echo(opBinary, []byte{0, 1, 2}), echoText("κόσμε"), echo(opBinary, nil),
		}}),
		testCase{name: "1.3.6 mask key of zeros", send: oneWrite(zeroMasked(opText, "zero key")), want: []expect{echoText("zero key")}},
	)
	runCases(t, cases)
}

// zeroMasked builds a frame masked with the all-zero key, which is legal.
func zeroMasked(op byte, s string) []byte {
	b := rawFrame(true, 0, op, []byte(s), false)
	b[1] |= 0x80
	return append(b[:2:2], append([]byte{0, 0, 0, 0}, b[2:]...)...)
}

func TestSection2_PingPong(t *testing.T) {
	binPayload := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	var tenPings [][]byte
	var tenPongs []expect
	for i := range 10 {
		p := fmt.Sprintf("ping-%d", i)
		tenPings = append(tenPings, msg(opPing, []byte(p)))
		tenPongs = append(tenPongs, pong(p))
	}
	cases := []testCase{
		{name: "2.1 ping without payload", send: oneWrite(msg(opPing, nil)), want: []expect{pong("")}},
		{name: "2.2 ping with text payload", send: oneWrite(msg(opPing, []byte("Hello, world!"))), want: []expect{pong("Hello, world!")}},
		{name: "2.3 ping with binary payload", send: oneWrite(msg(opPing, []byte(binPayload))), want: []expect{pong(binPayload)}},
		{name: "2.4 ping with 125-byte payload", send: oneWrite(msg(opPing, bytes.Repeat([]byte{0xfe}, 125))), want: []expect{pong(strings.Repeat("\xfe", 125))}},
		{name: "2.5 ping with 126-byte payload", send: oneWrite(msg(opPing, bytes.Repeat([]byte{0xfe}, 126))), want: []expect{closed(codeProtocol)}},
		byteWise(testCase{name: "2.6 ping with 125-byte payload byte by byte", send: oneWrite(msg(opPing, []byte(asciiText(125)))), want: []expect{pong(asciiText(125))}}),
		{name: "2.7 unsolicited empty pong is ignored", send: oneWrite(msg(opPong, nil), text("after pong")), want: []expect{echoText("after pong")}},
		{name: "2.8 unsolicited pong with payload is ignored", send: oneWrite(msg(opPong, []byte("unsolicited")), msg(opPing, []byte("p"))), want: []expect{pong("p")}},
		{name: "2.9 pong with 126-byte payload", send: oneWrite(msg(opPong, make([]byte, 126))), want: []expect{closed(codeProtocol)}},
		{name: "2.10 ten pings in one write", send: oneWrite(tenPings...), want: tenPongs},
		{name: "2.11 ten pings in 3-byte chunks", send: oneWrite(tenPings...), chunk: 3, want: tenPongs},
	}
	runCases(t, cases)
}

func TestSection3_ReservedBits(t *testing.T) {
	ping := msg(opPing, []byte("after"))
	cases := []testCase{
		{name: "3.1 text with RSV1", send: oneWrite(rawFrame(true, 4, opText, []byte("rsv1"), true)), want: []expect{closed(codeProtocol)}},
		{name: "3.2 text with RSV2 after a valid text, then ping", send: oneWrite(text("ok"), rawFrame(true, 2, opText, []byte("rsv2"), true), ping), want: []expect{echoText("ok"), closed(codeProtocol)}},
		{name: "3.3 text with RSV3 after a valid text, frame-wise", send: frameWise(text("ok"), rawFrame(true, 1, opText, []byte("rsv3"), true), ping), want: []expect{echoText("ok"), closed(codeProtocol)}},
		byteWise(testCase{name: "3.4 text with RSV1 and RSV3 byte by byte", send: oneWrite(text("ok"), rawFrame(true, 5, opText, []byte("rsv5"), true), ping), want: []expect{echoText("ok"), closed(codeProtocol)}}),
		{name: "3.5 binary with RSV1 and RSV2", send: oneWrite(rawFrame(true, 6, opBinary, []byte{0xff}, true)), want: []expect{closed(codeProtocol)}},
		{name: "3.6 ping with RSV2 and RSV3", send: oneWrite(rawFrame(true, 3, opPing, []byte("p"), true)), want: []expect{closed(codeProtocol)}},
		{name: "3.7 close with all three RSV bits", send: oneWrite(rawFrame(true, 7, opClose, []byte{0x03, 0xe8}, true)), want: []expect{closed(codeProtocol)}},
		{name: "3.8 continuation with RSV1", send: oneWrite(frame(false, opText, []byte("a")), rawFrame(true, 4, opCont, []byte("b"), true)), want: []expect{closed(codeProtocol)}},
	}
	runCases(t, cases)
}

func TestSection4_Opcodes(t *testing.T) {
	var cases []testCase
	for i, op := range []byte{3, 4, 5, 6, 7} {
		cases = append(cases, reservedOpcodeCase(fmt.Sprintf("4.1.%d", i+1), "data", op, i))
	}
	for i, op := range []byte{0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, reservedOpcodeCase(fmt.Sprintf("4.2.%d", i+1), "control", op, i))
	}
	runCases(t, cases)
}

// reservedOpcodeCase mirrors Autobahn's five variants per reserved opcode: alone, with a
// payload, between a valid text and a ping, the same with a payload, and byte by byte.
func reservedOpcodeCase(id, kind string, op byte, variant int) testCase {
	name := fmt.Sprintf("%s reserved %s opcode %#x", id, kind, op)
	bad := msg(op, nil)
	if variant%2 == 1 || variant == 4 {
		bad = msg(op, []byte("reserved opcode payload"))
		name += " with payload"
	}
	if variant < 2 {
		return testCase{name: name, send: oneWrite(bad), want: []expect{closed(codeProtocol)}}
	}
	tc := testCase{
		name: name + " between text and ping",
		send: oneWrite(text("before"), bad, msg(opPing, []byte("after"))),
		want: []expect{echoText("before"), closed(codeProtocol)},
	}
	if variant == 4 {
		tc.name += " byte by byte"
		tc = byteWise(tc)
	}
	return tc
}

func TestSection5_Fragmentation(t *testing.T) {
	two := [][]byte{frame(false, opText, []byte("fragment1")), frame(true, opCont, []byte("fragment2"))}
	withPing := [][]byte{two[0], msg(opPing, []byte("between")), two[1]}
	withPingWant := []expect{pong("between"), echoText("fragment1fragment2")}
	contFin := frame(true, opCont, []byte("nothing to continue"))
	contNoFin := frame(false, opCont, []byte("nothing to continue"))
	var five [][]byte
	var fiveWant []expect
	for i := range 5 {
		op := opCont
		if i == 0 {
			op = opText
		}
		five = append(five, frame(i == 4, op, []byte(fmt.Sprintf("fragment%d", i+1))))
		if i < 4 {
			p := fmt.Sprintf("ping%d", i+1)
			five = append(five, msg(opPing, []byte(p)))
			fiveWant = append(fiveWant, pong(p))
		}
	}
	fiveWant = append(fiveWant, echoText("fragment1fragment2fragment3fragment4fragment5"))
	bin := pattern(3000)
	oneByte := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	cases := []testCase{
		{name: "5.1 ping in two fragments", send: oneWrite(frame(false, opPing, []byte("fragment1")), frame(true, opCont, []byte("fragment2"))), want: []expect{closed(codeProtocol)}},
		{name: "5.2 pong in two fragments", send: oneWrite(frame(false, opPong, []byte("fragment1")), frame(true, opCont, []byte("fragment2"))), want: []expect{closed(codeProtocol)}},
		{name: "5.3 text in two fragments", send: oneWrite(two...), want: []expect{echoText("fragment1fragment2")}},
		{name: "5.4 text in two fragments, frame-wise", send: frameWise(two...), want: []expect{echoText("fragment1fragment2")}},
		byteWise(testCase{name: "5.5 text in two fragments byte by byte", send: oneWrite(two...), want: []expect{echoText("fragment1fragment2")}}),
		{name: "5.6 text in two fragments with a ping between", send: oneWrite(withPing...), want: withPingWant},
		{name: "5.7 text in two fragments with a ping between, frame-wise", send: frameWise(withPing...), want: withPingWant},
		byteWise(testCase{name: "5.8 text in two fragments with a ping between byte by byte", send: oneWrite(withPing...), want: withPingWant}),
		{name: "5.9 continuation with FIN and nothing to continue", send: oneWrite(contFin, text("then text")), want: []expect{closed(codeProtocol)}},
		{name: "5.10 continuation with FIN and nothing to continue, frame-wise", send: frameWise(contFin, text("then text")), want: []expect{closed(codeProtocol)}},
		byteWise(testCase{name: "5.11 continuation with FIN and nothing to continue byte by byte", send: oneWrite(contFin, text("then text")), want: []expect{closed(codeProtocol)}}),
		{name: "5.12 continuation without FIN and nothing to continue", send: oneWrite(contNoFin, text("then text")), want: []expect{closed(codeProtocol)}},
		{name: "5.13 continuation without FIN and nothing to continue, frame-wise", send: frameWise(contNoFin, text("then text")), want: []expect{closed(codeProtocol)}},
		byteWise(testCase{name: "5.14 continuation without FIN and nothing to continue byte by byte", send: oneWrite(contNoFin, text("then text")), want: []expect{closed(codeProtocol)}}),
		{name: "5.15 two fragments, then a continuation with nothing to continue", send: oneWrite(append(two, contNoFin, text("then text"))...), want: []expect{echoText("fragment1fragment2"), closed(codeProtocol)}},
		{name: "5.16 continuation after a complete message", send: oneWrite(text("done"), contFin), want: []expect{echoText("done"), closed(codeProtocol)}},
		{name: "5.17 text frame inside a fragmented text", send: oneWrite(two[0], text("new message")), want: []expect{closed(codeProtocol)}},
		{name: "5.18 binary frame inside a fragmented text", send: oneWrite(two[0], msg(opBinary, []byte{1})), want: []expect{closed(codeProtocol)}},
		{name: "5.19 text in five fragments with pings between", send: oneWrite(five...), want: fiveWant},
		{name: "5.20 text in five fragments with pings between, frame-wise", send: frameWise(five...), want: fiveWant},
		{name: "5.21 binary in three fragments", send: oneWrite(fragments(opBinary, bin, 3)...), want: []expect{echo(opBinary, bin)}},
		{name: "5.22 text in 36 one-byte fragments", send: oneWrite(fragments(opText, oneByte, len(oneByte))...), want: []expect{echoText(string(oneByte))}},
		{name: "5.23 text with empty first, middle and last fragments", send: oneWrite(frame(false, opText, nil), frame(false, opCont, []byte("mid")), frame(false, opCont, nil), frame(true, opCont, nil)), want: []expect{echoText("mid")}},
		{name: "5.24 unsolicited pong inside a fragmented text", send: oneWrite(two[0], msg(opPong, []byte("x")), two[1]), want: []expect{echoText("fragment1fragment2")}},
		{name: "5.25 close inside a fragmented text", send: oneWrite(two[0], closeFrame(codeNormal, ""), two[1]), want: []expect{closed(codeNormal)}},
		{name: "5.26 close in two fragments", send: oneWrite(frame(false, opClose, []byte{0x03}), frame(true, opCont, []byte{0xe8})), want: []expect{closed(codeProtocol)}},
		{name: "5.27 fragmented text after a fragmented binary", send: oneWrite(append(fragments(opBinary, []byte{9, 8, 7}, 3), fragments(opText, []byte("abc"), 2)...)...), want: []expect{echo(opBinary, []byte{9, 8, 7}), echoText("abc")}},
	}
	runCases(t, cases)
}

// utf8Invalid are byte sequences a text message must not contain.
var utf8Invalid = []struct {
	name string
	in   string
}{
	{name: "lone continuation byte 0x80", in: "\x80"},
	{name: "lone continuation byte 0xbf", in: "ab\xbf"},
	{name: "kosme then a surrogate", in: "κόσμε\xed\xa0\x80edited"},
	{name: "high surrogate U+D800", in: "\xed\xa0\x80"},
	{name: "low surrogate U+DFFF", in: "\xed\xbf\xbf"},
	{name: "surrogate pair", in: "\xed\xa0\x80\xed\xb0\x80"},
	{name: "overlong slash in 2 bytes", in: "\xc0\xaf"},
	{name: "overlong NUL in 2 bytes", in: "\xc0\x80"},
	{name: "overlong slash in 3 bytes", in: "\xe0\x80\xaf"},
	{name: "overlong slash in 4 bytes", in: "\xf0\x80\x80\xaf"},
	{name: "largest overlong 4-byte", in: "\xf0\x8f\xbf\xbf"},
	{name: "above U+10FFFF", in: "\xf4\x90\x80\x80"},
	{name: "lead byte 0xf5", in: "\xf5\x80\x80\x80"},
	{name: "5-byte sequence", in: "\xf8\x88\x80\x80\x80"},
	{name: "6-byte sequence", in: "\xfc\x84\x80\x80\x80\x80"},
	{name: "byte 0xfe", in: "\xfe"},
	{name: "byte 0xff", in: "\xff"},
	{name: "lead byte followed by ASCII", in: "\xce a"},
	{name: "truncated at message end", in: "κόσμ\xce"},
	{name: "truncated 4-byte at message end", in: "abc\xf0\x9f\x98"},
}

// utf8Valid are texts a server must echo.
var utf8Valid = []struct {
	name string
	in   string
}{
	{name: "kosme", in: "κόσμε"},
	{name: "mixed Latin", in: "Hello-µ@ßöäüàá-UTF-8!!"},
	{name: "first code point of each length", in: "\x00\u0080\u0800\U00010000"},
	{name: "last code point of each length", in: "\x7f\u07ff\uffff\U0010ffff"},
	{name: "around the surrogates", in: "\ud7ff\ue000\ufffd"},
	{name: "noncharacters", in: "\ufffe\uffff\U0001fffe\U0010fffe"},
}

func TestSection6_UTF8(t *testing.T) {
	var cases []testCase
	for i, v := range utf8Valid {
		cases = append(cases,
			testCase{name: fmt.Sprintf("6.1.%d valid %s", i+1, v.name), send: oneWrite(text(v.in)), want: []expect{echoText(v.in)}},
			testCase{
				name: fmt.Sprintf("6.2.%d valid %s in one-byte fragments", i+1, v.name),
				send: oneWrite(fragments(opText, []byte(v.in), len(v.in))...), want: []expect{echoText(v.in)},
			},
		)
	}
	for i, v := range utf8Invalid {
		cases = append(cases, testCase{name: fmt.Sprintf("6.3.%d invalid %s", i+1, v.name), send: oneWrite(text(v.in)), want: []expect{closed(codeUTF8)}})
	}
	cases = append(cases,
		testCase{name: "6.4.1 empty text", send: oneWrite(text("")), want: []expect{echoText("")}},
		testCase{name: "6.4.2 empty text in three empty fragments", send: oneWrite(frame(false, opText, nil), frame(false, opCont, nil), frame(true, opCont, nil)), want: []expect{echoText("")}},
		testCase{name: "6.4.3 valid text split inside a character", send: frameWise(frame(false, opText, []byte("κό\xcf")), frame(true, opCont, []byte("\x83με"))), want: []expect{echoText("κόσμε")}},
		testCase{name: "6.4.4 truncated at the end of a fragmented text", send: oneWrite(frame(false, opText, []byte("κόσμ")), frame(true, opCont, []byte("\xce"))), want: []expect{closed(codeUTF8)}},
		testCase{name: "6.4.5 overlong split across fragments", send: frameWise(frame(false, opText, []byte("ok\xe0")), frame(true, opCont, []byte("\x80\xaf"))), want: []expect{closed(codeUTF8)}},
		testCase{name: "6.4.6 surrogate split across fragments", send: frameWise(frame(false, opText, []byte("\xed")), frame(false, opCont, []byte("\xa0")), frame(true, opCont, []byte("\x80"))), want: []expect{closed(codeUTF8)}},
		testCase{name: "6.4.7 above U+10FFFF split across fragments", send: frameWise(frame(false, opText, []byte("\xf4")), frame(true, opCont, []byte("\x90\x80\x80"))), want: []expect{closed(codeUTF8)}},
		testCase{name: "6.4.8 invalid first fragment fails before the message ends", send: oneWrite(frame(false, opText, []byte("κόσμε\xed\xa0\x80"))), want: []expect{closed(codeUTF8)}},
		testCase{name: "6.4.9 invalid middle fragment fails before the message ends", send: oneWrite(frame(false, opText, []byte("ok")), frame(false, opCont, []byte("\xff"))), want: []expect{closed(codeUTF8)}},
		testCase{name: "6.4.10 valid text then invalid text", send: oneWrite(text("fine"), text("\xc0\xaf"), text("never")), want: []expect{echoText("fine"), closed(codeUTF8)}},
		testCase{name: "6.4.11 invalid UTF-8 in a binary message is data", send: oneWrite(msg(opBinary, []byte("\xff\xfe\xed\xa0\x80"))), want: []expect{echo(opBinary, []byte("\xff\xfe\xed\xa0\x80"))}},
		byteWise(testCase{name: "6.4.12 invalid text byte by byte", send: oneWrite(text("κόσμε\xed\xa0\x80edited")), want: []expect{closed(codeUTF8)}}),
	)
	runCases(t, cases)
}

func TestSection7_Close(t *testing.T) {
	cases := []testCase{
		{name: "7.1.1 close 1000 is answered", send: oneWrite(closeFrame(codeNormal, "")), want: []expect{closed(codeNormal)}},
		{name: "7.1.2 empty close is answered with 1000", send: oneWrite(msg(opClose, nil)), want: []expect{closed(codeNormal)}},
		{name: "7.1.3 ping after close is ignored", send: oneWrite(closeFrame(codeNormal, ""), msg(opPing, []byte("late"))), want: []expect{closed(codeNormal)}},
		{name: "7.1.4 text after close is ignored", send: oneWrite(closeFrame(codeNormal, ""), text("late")), want: []expect{closed(codeNormal)}},
		{name: "7.1.5 fragment, close, continuation", send: oneWrite(frame(false, opText, []byte("frag")), closeFrame(codeNormal, ""), frame(true, opCont, []byte("ment"))), want: []expect{closed(codeNormal)}},
		{name: "7.1.6 text then close in one write", send: oneWrite(text("last words"), closeFrame(codeNormal, "")), want: []expect{echoText("last words"), closed(codeNormal)}},
		{name: "7.1.7 invalid frame after close is ignored", send: oneWrite(closeFrame(codeNormal, ""), rawFrame(true, 7, 0xB, nil, true)), want: []expect{closed(codeNormal)}},
		{name: "7.3.1 close with a 1-byte payload", send: oneWrite(msg(opClose, []byte{0x03})), want: []expect{closed(codeProtocol)}},
		{name: "7.3.2 close 1000 with a reason", send: oneWrite(closeFrame(codeNormal, "Hello World!")), want: []expect{closed(codeNormal)}},
		{name: "7.3.3 close 1000 with a 123-byte reason", send: oneWrite(closeFrame(codeNormal, asciiText(123))), want: []expect{closed(codeNormal)}},
		{name: "7.3.4 close 1000 with a 124-byte reason", send: oneWrite(closeFrame(codeNormal, asciiText(124))), want: []expect{closed(codeProtocol)}},
		{name: "7.5.1 close reason that is not UTF-8", send: oneWrite(closeFrame(codeNormal, "\xce\xba\xe1\xbd")), want: []expect{closed(codeUTF8)}},
		{name: "7.5.2 close reason with a surrogate", send: oneWrite(closeFrame(codeNormal, "bye \xed\xa0\x80")), want: []expect{closed(codeUTF8)}},
		{name: "7.5.3 close reason with multi-byte UTF-8", send: oneWrite(closeFrame(codeNormal, "κόσμε")), want: []expect{closed(codeNormal)}},
		byteWise(testCase{name: "7.5.4 close reason that is not UTF-8 byte by byte", send: oneWrite(closeFrame(codeNormal, "\xff")), want: []expect{closed(codeUTF8)}}),
	}
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cases = append(cases, testCase{
			name: fmt.Sprintf("7.7.%d valid close code %d is echoed", i+1, code),
			send: oneWrite(closeFrame(code, "")), want: []expect{closed(code)},
		})
	}
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, testCase{
			name: fmt.Sprintf("7.9.%d invalid close code %d", i+1, code),
			send: oneWrite(closeFrame(code, "")), want: []expect{closed(codeProtocol)},
		})
	}
	runCases(t, cases)
}

func TestSection9_Limits(t *testing.T) {
	overLimit := fragments(opText, []byte(asciiText(maxMessage+4096)), (maxMessage+4096)/4096)
	atLimit := fragments(opText, []byte(asciiText(maxMessage)), maxMessage/4096)
	tiny := fragments(opBinary, pattern(maxMessage), maxMessage/64)
	tinyOver := append(fragments(opBinary, pattern(maxMessage), maxMessage/64), frame(true, opCont, []byte{1}))
	tinyOver[len(tinyOver)-2][0] &^= 0x80 // the last full fragment no longer ends the message
	var hundred [][]byte
	var hundredWant []expect
	for i := range 100 {
		s := fmt.Sprintf("%03d %s", i, asciiText(996))
		hundred = append(hundred, text(s))
		hundredWant = append(hundredWant, echoText(s))
	}
	cases := []testCase{
		{name: "9.1.1 text of the limit minus one", send: oneWrite(text(asciiText(maxMessage - 1))), want: []expect{echoText(asciiText(maxMessage - 1))}},
		{name: "9.1.2 text of exactly the limit", send: oneWrite(text(asciiText(maxMessage))), want: []expect{echoText(asciiText(maxMessage))}},
		{name: "9.1.3 text of the limit plus one", send: oneWrite(text(asciiText(maxMessage + 1))), want: []expect{closed(codeTooBig)}},
		{name: "9.1.4 binary of the limit plus one", send: oneWrite(msg(opBinary, pattern(maxMessage+1))), want: []expect{closed(codeTooBig)}},
		{name: "9.1.5 header announcing 2^62 bytes fails before the payload", send: oneWrite(header(true, 0, opBinary, 1<<62)), want: []expect{closed(codeTooBig)}},
		{name: "9.1.6 header announcing the limit plus one fails before the payload", send: oneWrite(header(true, 0, opText, maxMessage+1)), want: []expect{closed(codeTooBig)}},
		{name: "9.1.7 64-bit length with the top bit set", send: oneWrite(header(true, 0, opBinary, 1<<63)), want: []expect{closed(codeProtocol)}},
		{name: "9.2.1 fragments summing to exactly the limit", send: oneWrite(atLimit...), want: []expect{echoText(asciiText(maxMessage))}},
		{name: "9.2.2 fragments summing over the limit", send: oneWrite(overLimit...), want: []expect{closed(codeTooBig)}},
		{name: "9.2.3 continuation header that crosses the limit fails before its payload", send: oneWrite(append(atLimit[:len(atLimit)-1:len(atLimit)-1], header(true, 0, opCont, 4097))...), want: []expect{closed(codeTooBig)}},
		{name: "9.2.4 1024 fragments of 64 bytes", send: oneWrite(tiny...), want: []expect{echo(opBinary, pattern(maxMessage))}},
		{name: "9.2.5 1025 fragments one byte over the limit", send: oneWrite(tinyOver...), want: []expect{closed(codeTooBig)}},
		{name: "9.3.1 unmasked text", send: oneWrite(rawFrame(true, 0, opText, []byte("plain"), false)), want: []expect{closed(codeProtocol)}},
		{name: "9.3.2 unmasked ping", send: oneWrite(rawFrame(true, 0, opPing, []byte("plain"), false)), want: []expect{closed(codeProtocol)}},
		{name: "9.3.3 unmasked close", send: oneWrite(rawFrame(true, 0, opClose, []byte{0x03, 0xe8}, false)), want: []expect{closed(codeProtocol)}},
		{name: "9.3.4 unmasked continuation", send: oneWrite(frame(false, opText, []byte("masked")), rawFrame(true, 0, opCont, []byte("plain"), false)), want: []expect{closed(codeProtocol)}},
		{name: "9.4.1 one hundred 1000-byte messages in one write", send: oneWrite(hundred...), want: hundredWant},
	}
	runCases(t, cases)
}

// TestSection0_Handshake checks the opening handshake: refusals carry the right HTTP
// status and drop the socket; frames may follow the request in the same write.
func TestSection0_Handshake(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) { handshakeCases(t, tg.addr) })
	}
}

func handshakeCases(t *testing.T, addr string) {
	req := func(path, extra string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + extra + "\r\n"
	}
	const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + handshakeKey + "\r\n"
	tests := []struct {
		name       string
		request    string
		wantStatus int
		then       []expect
	}{
		{name: "0.1 frames in the same write as the upgrade", request: upgradeRequest(addr) + string(text("early")), wantStatus: 101, then: []expect{echoText("early")}},
		{name: "0.2 unknown path", request: req("/nope", upgrade), wantStatus: http.StatusNotFound, then: []expect{dropped}},
		{name: "0.3 version 8", request: req("/echo", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: "+handshakeKey+"\r\n"), wantStatus: http.StatusUpgradeRequired, then: []expect{dropped}},
		{name: "0.4 plain HTTP GET", request: req("/echo", ""), wantStatus: http.StatusUpgradeRequired, then: []expect{dropped}},
		{name: "0.5 POST", request: strings.Replace(req("/echo", upgrade), "GET", "POST", 1), wantStatus: http.StatusMethodNotAllowed, then: []expect{dropped}},
		{name: "0.6 missing key", request: req("/echo", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"), wantStatus: http.StatusBadRequest, then: []expect{dropped}},
		{name: "0.7 not HTTP", request: "\x16\x03\x01\x00\x05hello\r\n\r\n", wantStatus: http.StatusBadRequest, then: []expect{dropped}},
		{name: "0.8 request head over 8 KiB", request: req("/echo", upgrade+"X-Pad: "+strings.Repeat("p", 9000)+"\r\n"), wantStatus: http.StatusRequestHeaderFieldsTooLarge, then: []expect{dropped}},
		{name: "0.9 no Host header", request: "GET /echo HTTP/1.1\r\n" + upgrade + "\r\n", wantStatus: http.StatusBadRequest, then: []expect{dropped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialTCP(t, addr)
			c.write(oneWrite([]byte(tt.request)), 0)
			resp := c.response()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusSwitchingProtocols {
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					t.Fatalf("reading the refusal body: %v", err)
				}
			}
			for i, w := range tt.then {
				c.check(i, w)
			}
		})
	}
}
