package storetest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string, within time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, err
}

func TestProxy(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c, "hello", 5*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Cut()
	if _, err := roundTrip(c, "cut", 5*time.Second); err == nil {
		t.Fatal("a cut connection still answers")
	}
	if c2, err := net.Dial("tcp", p.Addr); err == nil {
		if _, err := roundTrip(c2, "new", 5*time.Second); err == nil {
			t.Fatal("a new connection through a cut proxy answers")
		}
	}
	p.Heal()
	c3, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c3, "healed", 5*time.Second); err != nil || got != "healed\n" {
		t.Fatalf("after Heal: %q, %v", got, err)
	}

	p.Partition()
	_, err = roundTrip(c3, "held", 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("through a partition: %v, want a timeout", err)
	}
	p.Heal()
	c3.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c3).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("after the partition healed: %q, %v; want the held bytes", line, err)
	}
}
