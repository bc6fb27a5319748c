package wsframe

// UTF8 validates UTF-8 text that arrives in pieces (the fragments of one message). It
// fails as soon as a byte makes the text invalid, so a peer sending garbage is closed
// without waiting for the whole message. The zero value is ready to use.
type UTF8 struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // allowed range of the next continuation byte
}

// Feed consumes b and reports whether the text so far is a valid UTF-8 prefix.
func (u *UTF8) Feed(b []byte) bool {
	i := 0
	if u.need == 0 {
		// Fast path over ASCII.
		for i < len(b) && b[i] < 0x80 {
			i++
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if u.need > 0 {
			if c < u.lo || c > u.hi {
				return false
			}
			u.need--
			u.lo, u.hi = 0x80, 0xBF
			continue
		}
		// Lead byte ranges from RFC 3629 section 4.
		switch {
		case c < 0x80:
			continue
		case c >= 0xC2 && c <= 0xDF:
			u.need, u.lo, u.hi = 1, 0x80, 0xBF
		case c == 0xE0:
			u.need, u.lo, u.hi = 2, 0xA0, 0xBF
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			u.need, u.lo, u.hi = 2, 0x80, 0xBF
		case c == 0xED:
			u.need, u.lo, u.hi = 2, 0x80, 0x9F // no UTF-16 surrogates
		case c == 0xF0:
			u.need, u.lo, u.hi = 3, 0x90, 0xBF
		case c >= 0xF1 && c <= 0xF3:
			u.need, u.lo, u.hi = 3, 0x80, 0xBF
		case c == 0xF4:
			u.need, u.lo, u.hi = 3, 0x80, 0x8F // nothing above U+10FFFF
		default:
			return false
		}
	}
	return true
}

// Complete reports whether the text fed so far ends on a character boundary.
func (u *UTF8) Complete() bool { return u.need == 0 }

// Reset prepares u for a new message.
func (u *UTF8) Reset() { *u = UTF8{} }
