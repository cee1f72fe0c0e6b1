package h1

// Chunks follows a chunked body as it streams past, to find where it ends: the last chunk,
// the trailer fields and the final empty line. It checks the framing (hexadecimal sizes,
// CRLF line ends) but not the contents, which are relayed as they are, trailers included.
type Chunks struct {
	state chunkState
	left  int64 // bytes of chunk data left, in chunkData
	size  int   // digits of the size line read
}

type chunkState uint8

const (
	chunkSize    chunkState = iota // the size's hex digits
	chunkExt                       // after the size, up to CR: extensions
	chunkSizeLF                    // the LF ending the size line
	chunkData                      // data
	chunkDataCR                    // the CRLF after data
	chunkDataLF                    //
	trailerStart                   // the start of a trailer line, or the final empty line
	trailerLine                    // in a trailer line, up to CR
	trailerLF                      // the LF ending a trailer line
	finalLF                        // the LF of the final empty line
	chunksDone                     // the body ended
)

// maxSizeDigits bounds a chunk size (15 hex digits stay below 2^63).
const maxSizeDigits = 15

// Feed follows p, the next bytes of the body, and returns how many belong to it and whether
// the body ended there (bytes after that are not the body's). A framing error is ErrChunks.
func (c *Chunks) Feed(p []byte) (n int, done bool, err error) {
	for n < len(p) {
		switch c.state {
		case chunkData:
			k := min(int64(len(p)-n), c.left)
			n += int(k)
			if c.left -= k; c.left == 0 {
				c.state = chunkDataCR
			}
		case chunksDone:
			return n, true, nil
		case chunkSize, chunkExt, chunkSizeLF, chunkDataCR, chunkDataLF, trailerStart, trailerLine, trailerLF, finalLF:
			if !c.step(p[n]) {
				return n + 1, false, ErrChunks
			}
			n++
		}
	}
	return n, c.state == chunksDone, nil
}

// step follows one byte of the framing (any state but chunkData and chunksDone), and reports
// false for a byte that breaks it.
func (c *Chunks) step(b byte) bool {
	switch c.state {
	case chunkSize:
		d, ok := hexDigit(b)
		switch {
		case ok && c.size < maxSizeDigits:
			c.left = c.left<<4 | int64(d)
			c.size++
		case c.size > 0 && b == ';':
			c.state = chunkExt
		case c.size > 0 && b == '\r':
			c.state = chunkSizeLF
		default:
			return false
		}
	case chunkExt:
		if b == '\r' {
			c.state = chunkSizeLF
		}
		return !isControl(b) || b == '\r'
	case chunkSizeLF:
		c.size = 0
		c.state = chunkData
		if c.left == 0 {
			c.state = trailerStart
		}
		return b == '\n'
	case chunkDataCR:
		c.state = chunkDataLF
		return b == '\r'
	case chunkDataLF:
		c.state = chunkSize
		return b == '\n'
	case trailerStart:
		switch {
		case b == '\r':
			c.state = finalLF
		case b == ':' || b == ' ' || b == '\t' || isControl(b):
			return false
		default:
			c.state = trailerLine
		}
	case trailerLine:
		if b == '\r' {
			c.state = trailerLF
		}
		return !isControl(b) || b == '\r'
	case trailerLF:
		c.state = trailerStart
		return b == '\n'
	case finalLF:
		c.state = chunksDone
		return b == '\n'
	case chunkData, chunksDone:
		return false // Feed does not step these
	}
	return true
}

// isControl reports whether b is a control character other than HTAB.
func isControl(b byte) bool { return b < ' ' && b != '\t' || b == 0x7f }

func hexDigit(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	case 'A' <= b && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
