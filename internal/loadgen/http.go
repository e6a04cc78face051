package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// HTTPGet returns, for Run, a factory of callers that each send GET url
// through do (an http.Client's Do, or a RoundTripper's RoundTrip) and
// read the whole body, then close it. Each caller builds its request once,
// on its first call, with the run's context, and sends it again on every
// call after, as a program that polls one URL does. check, if not nil,
// sees every response before its body is read and returns an error to
// fail the request; if nil, a status of 400 or above fails it.
//
// transportctl bench and the bench module's W4 both call it, so that the
// CLI and the bench module send the same requests.
func HTTPGet(do func(*http.Request) (*http.Response, error), url string, check func(*http.Response) error) func() Caller {
	if check == nil {
		check = func(resp *http.Response) error {
			if resp.StatusCode >= 400 {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}
	}
	return func() Caller {
		var req *http.Request
		return func(ctx context.Context) error {
			if req == nil || req.Context() != ctx {
				r, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					return err
				}
				req = r
			}
			resp, err := do(req)
			if err != nil {
				return err
			}
			err = check(resp)
			_, cerr := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil {
				err = cerr
			}
			return err
		}
	}
}
