package dash

import "encoding/binary"

// wsFrame is one complete websocket text frame as a server sends it
// (RFC 6455 §5.2: final, unmasked, uncompressed), built once per push and
// written as is to every client that shows it.
//
// The library's PreparedMessage also frames once, but writes one frame per
// system call. A client's writer takes every frame queued for it and writes
// them in one call (writev): under load, when frames queue up, that halves
// the calls on both ends of the socket, and they are the cost of a fan-out
// to a thousand pages (see BenchmarkDashboardFanout).
type wsFrame []byte

func textFrame(payload []byte) wsFrame {
	const fin, opText = 0x80, 0x1
	n := len(payload)
	f := make([]byte, 0, n+10)
	switch {
	case n <= 125:
		f = append(f, fin|opText, byte(n))
	case n <= 0xFFFF:
		f = append(f, fin|opText, 126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, fin|opText, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}
