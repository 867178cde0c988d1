package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pulse-monitor/pulse/pkg/schedule"
)

// runFloor is the floor: the least a Go program can do to run the same
// checks. One goroutine and one ticker per check, started at the check's
// own slot (the same phase pulse uses), a keep-alive client, GET, read the
// body, compare the status. Nothing is stored or evaluated. It runs until
// SIGTERM or for d.
func runFloor(base string, n int, interval, d time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1024, // as pulse's shared transport
			IdleConnTimeout:     90 * time.Second,
		},
	}
	var failures sync.Map
	var wg sync.WaitGroup
	now := time.Now()
	for i := range n {
		j := schedule.Job{Name: checkName(i), Interval: interval}
		first := schedule.Next(&j, now)
		url := fmt.Sprintf("%s/c/%d", base, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(time.Until(first)):
			case <-ctx.Done():
				return
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				if err := floorGet(client, url); err != nil {
					failures.Store(url, err)
				}
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	bad := 0
	failures.Range(func(k, v any) bool {
		if bad < 3 {
			fmt.Fprintf(os.Stderr, "floor: %s: %v\n", k, v)
		}
		bad++
		return true
	})
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "floor: %d checks failed at least once\n", bad)
	}
	return nil
}

func floorGet(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
