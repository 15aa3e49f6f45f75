package awsbase

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func TestWrap(t *testing.T) {
	key := testkeys.New(3).Mixed()
	for _, tc := range []struct {
		code string
		want error
	}{
		{"ResourceNotFoundException", providers.ErrNotFound},
		{"ParameterNotFound", providers.ErrNotFound},
		{"AccessDeniedException", providers.ErrAccessDenied},
		{"ThrottlingException", providers.ErrThrottled},
		{"TooManyUpdates", providers.ErrThrottled},
		{"InternalServiceError", nil},
	} {
		api := &smithy.GenericAPIError{Code: tc.code, Message: "secret " + key + " says no"}
		err := Wrap(fmt.Errorf("operation error: %w", api), "read aws-sm://us-east-1/"+key)
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v does not match %v", tc.code, err, tc.want)
		}
		if strings.Contains(err.Error(), key[5:]) {
			t.Errorf("%s: error leaks the key", tc.code)
		}
		if Code(err) != tc.code {
			t.Errorf("Code = %q, want %q", Code(err), tc.code)
		}
	}
	if err := Wrap(context.Canceled, "list"); !errors.Is(err, context.Canceled) || !Canceled(err) {
		t.Errorf("a cancelled call: %v", err)
	}
}

func TestParseURI(t *testing.T) {
	u, _ := url.Parse("aws-ssm://us-gov-west-1/a/b/?concurrency=8&profile=ops")
	o, path, err := ParseURI(u, Options{MaxAttempts: 2})
	if err != nil || o.Region != "us-gov-west-1" || path != "a/b/" || o.Limit() != 8 || o.Profile != "ops" || o.MaxAttempts != 2 {
		t.Errorf("got %+v %q %v", o, path, err)
	}
	key := testkeys.New(4).Mixed()
	for _, bad := range []string{"aws-sm://" + key + "/x", "aws-sm://us-east-1/x?concurrency=" + key, "aws-sm://us-east-1:443/x"} {
		u, _ := url.Parse(bad)
		if u == nil {
			continue
		}
		_, _, err := ParseURI(u, Options{})
		if err == nil || strings.Contains(err.Error(), key[5:]) {
			t.Errorf("%.20s…: %v (want an error without the key)", bad, err)
		}
	}
}
