package httpsrv

import (
	"bufio"
	"net/http"
	"net/textproto"
)

// textprotoReadHeader reads a trailer section as net/http does.
func textprotoReadHeader(br *bufio.Reader) (http.Header, error) {
	h, err := textproto.NewReader(br).ReadMIMEHeader()
	return http.Header(h), err
}
