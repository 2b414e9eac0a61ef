package web

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// decodeBody makes BodyLimit hold on what a body decodes to, not only on
// what arrived: a 1 MB gzip body can hold 1 GB, and Fiber's c.Body()
// decodes it whole, without a limit. It is an app-level middleware mounted
// before everything else that reads a body (authentication, the API, the
// webhooks, the dashboard's forms, the sandbox). For a request with a Content-Encoding it decodes the
// body, coding after coding in the reverse of the order listed (RFC 9110
// §8.4), each through a reader that stops at BodyLimit+1 bytes:
//
//   - decoded beyond BodyLimit: 413 payload_too_large, as soon as the
//     decoder passes the limit (nothing more is decoded or kept);
//   - a coding other than gzip (x-gzip), deflate (zlib) or identity, or
//     more than maxCodings of them: 415 unsupported_media_type. br is
//     refused too: its decoder sizes its window from the stream's header,
//     so 14 bytes sent made it allocate about 7 MiB (measured), where gzip
//     and deflate decode through a fixed 32 KiB window;
//   - data that is not what the coding says: 400 bad_request;
//   - otherwise the request goes on with the decoded bytes as its body and
//     without Content-Encoding, so that every reader downstream (c.Body(),
//     c.FormValue(), the sandbox's handler) sees the decoded body and Fiber
//     never decodes it again.
//
// The Shopify webhook signature is checked on the decoded bytes: the HMAC
// vouches for the JSON payload, which a content coding applied on the way
// (by the sender or a proxy) does not change. The sandbox sends its
// payloads uncompressed; a sender that signed compressed bytes instead is
// refused (401), never taken unverified.
func (s *Server) decodeBody(c *fiber.Ctx) error {
	req := c.Request()
	// Several Content-Encoding lines are one list, in order (RFC 9110
	// §5.3).
	lines := req.Header.PeekAll(fiber.HeaderContentEncoding)
	if len(lines) == 0 {
		return c.Next()
	}
	ce := make([]string, len(lines))
	for i, l := range lines {
		ce[i] = string(l)
	}
	codings, err := contentCodings(strings.Join(ce, ","))
	if err != nil {
		return err
	}
	body := req.Body() // the bytes that arrived: fasthttp decodes nothing here
	if len(body) > 0 {
		for i := len(codings) - 1; i >= 0; i-- {
			if body, err = decodeCoding(codings[i], body, &s.decodedBytes); err != nil {
				return err
			}
		}
	}
	req.SetBodyRaw(body)
	req.Header.Del(fiber.HeaderContentEncoding)
	req.Header.SetContentLength(len(body))
	return c.Next()
}

// maxCodings bounds the codings of one body: each one decodes up to
// BodyLimit, so a long list is work without a purpose.
const maxCodings = 2

// contentCodings parses Content-Encoding into the codings to undo, in the
// order they were applied, identity left out.
func contentCodings(header string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(header, ",") {
		coding := strings.ToLower(strings.TrimSpace(part))
		switch coding {
		case "identity", "":
			continue
		case "gzip", "x-gzip", "deflate":
		default:
			return nil, httperr.New(http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType,
				fmt.Sprintf("Content-Encoding %q is not supported: send the body as is, or with gzip or deflate", coding))
		}
		out = append(out, coding)
	}
	if len(out) > maxCodings {
		return nil, httperr.New(http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType,
			fmt.Sprintf("Content-Encoding lists %d codings: at most %d are accepted", len(out), maxCodings))
	}
	return out, nil
}

// decodeCoding undoes one coding of in, reading at most BodyLimit+1 bytes
// out of the decoder; counter adds the bytes decoded.
func decodeCoding(coding string, in []byte, counter *atomic.Int64) ([]byte, error) {
	var dec io.Reader
	var err error
	switch coding {
	case "gzip", "x-gzip":
		dec, err = gzip.NewReader(bytes.NewReader(in)) // multi-member streams included
	case "deflate":
		dec, err = zlib.NewReader(bytes.NewReader(in))
	}
	if err != nil {
		return nil, badCoding(coding, err)
	}
	out, err := readCapped(dec, min(max(4*len(in), 4<<10), BodyLimit+1), BodyLimit+1)
	counter.Add(int64(len(out)))
	if len(out) > BodyLimit {
		return nil, httperr.New(http.StatusRequestEntityTooLarge, httperr.TypePayloadTooLarge,
			fmt.Sprintf("the request body is larger than 1 MiB once decoded (Content-Encoding %s)", coding))
	}
	if err != nil {
		return nil, badCoding(coding, err)
	}
	return out, nil
}

// readCapped reads r to its end or to limit bytes, whichever comes first,
// into a buffer that starts at size and doubles, never beyond limit.
func readCapped(r io.Reader, size, limit int) ([]byte, error) {
	buf := make([]byte, size)
	n := 0
	for {
		if n == len(buf) {
			if n == limit {
				return buf, nil
			}
			grown := make([]byte, min(2*len(buf), limit))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return buf[:n], nil
		}
		if err != nil {
			return buf[:n], err
		}
	}
}

func badCoding(coding string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return httperr.New(http.StatusBadRequest, httperr.TypeBadRequest,
		fmt.Sprintf("the body is not valid %s data: %v", coding, err))
}
