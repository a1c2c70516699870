// A Kubernetes streaming client over moby/spdystream, the library client-go (kubectl,
// crictl, critest, kubelet) speaks SPDY with, doing what client-go's SPDY executor and
// port forwarder do. The suite builds it from Debian's golang-github-docker-spdystream-dev
// so that Coracle's streaming server is tested against the real client's behaviour.
//
//	spdy-client exec URL [-stdin] [-stdout] [-stderr] [-tty] [-size WxH]
//	    stdin is sent once every stream is open, stdout and stderr copied out; on fd 3
//	    "streams open" once they are,
//	    then the protocol and the error stream
//	spdy-client portforward URL PORT
//	    stdin is sent to the port, its answer copied to stdout; the error stream on fd 3
//	spdy-client hang URL
//	    opens the streams as exec does, then holds the connection until killed
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/spdystream"
)

// bufferedConn hands spdystream the bytes the HTTP response reader read past the 101.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func dial(rawURL string, protocols []string) (*spdystream.Connection, string) {
	u, err := url.Parse(rawURL)
	check(err)
	conn, err := net.Dial("tcp", u.Host)
	check(err)
	req, err := http.NewRequest("POST", rawURL, nil)
	check(err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	check(req.Write(conn))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, req)
	check(err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		fail(fmt.Sprintf("upgrade: %s: %s", resp.Status, strings.TrimSpace(string(body))))
	}
	spdy, err := spdystream.NewConnection(&bufferedConn{conn, r}, false)
	check(err)
	go spdy.Serve(spdystream.NoOpStreamHandler)
	return spdy, resp.Header.Get("X-Stream-Protocol-Version")
}

func open(c *spdystream.Connection, headers http.Header) *spdystream.Stream {
	s, err := c.CreateStream(headers, nil, false)
	check(err)
	check(s.WaitTimeout(30 * time.Second))
	return s
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: spdy-client exec|portforward|hang URL ...")
	}
	status := os.NewFile(3, "status")
	switch os.Args[1] {
	case "exec", "hang":
		fs := flag.NewFlagSet("exec", flag.ExitOnError)
		stdin := fs.Bool("stdin", false, "")
		stdout := fs.Bool("stdout", false, "")
		stderr := fs.Bool("stderr", false, "")
		tty := fs.Bool("tty", false, "")
		size := fs.String("size", "", "")
		check(fs.Parse(os.Args[3:]))
		c, protocol := dial(os.Args[2], []string{"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"})
		errorStream := open(c, http.Header{"streamType": {"error"}})
		var wg sync.WaitGroup
		var stdinStream *spdystream.Stream
		if *stdin {
			stdinStream = open(c, http.Header{"streamType": {"stdin"}})
		}
		copyOut := func(kind string, to io.Writer) {
			s := open(c, http.Header{"streamType": {kind}})
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(to, s)
			}()
		}
		if *stdout {
			copyOut("stdout", os.Stdout)
		}
		if *stderr {
			copyOut("stderr", os.Stderr)
		}
		if *tty {
			s := open(c, http.Header{"streamType": {"resize"}})
			if *size != "" {
				var w, h int
				fmt.Sscanf(*size, "%dx%d", &w, &h)
				check(json.NewEncoder(s).Encode(map[string]int{"Width": w, "Height": h}))
			}
		}
		// As client-go's streamProtocolV2.stream: stdin is copied once every stream is open.
		if stdinStream != nil {
			go func() {
				io.Copy(stdinStream, os.Stdin)
				stdinStream.Close()
			}()
		}
		fmt.Fprintln(status, "streams open")
		if os.Args[1] == "hang" {
			select {}
		}
		errText, _ := io.ReadAll(errorStream)
		wg.Wait()
		fmt.Fprintf(status, "protocol=%s\n%s\n", protocol, errText)
		c.Close()
	case "portforward":
		c, _ := dial(os.Args[2], []string{"portforward.k8s.io"})
		headers := http.Header{}
		headers.Set("streamType", "error")
		headers.Set("port", os.Args[3])
		headers.Set("requestID", "0")
		errorStream := open(c, headers)
		errorStream.Close()
		headers.Set("streamType", "data")
		data := open(c, headers)
		go func() {
			io.Copy(data, os.Stdin)
			data.Close()
		}()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(os.Stdout, data)
		}()
		errText, _ := io.ReadAll(errorStream)
		wg.Wait()
		fmt.Fprintf(status, "%s\n", errText)
		c.Close()
	default:
		fail("unknown command " + os.Args[1])
	}
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "spdy-client:", msg)
	os.Exit(2)
}
