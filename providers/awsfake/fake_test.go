package awsfake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/providers/awsfake"
)

// clients are the real SDK clients, pointed at the fake by the standard
// chain, with no retries so each call is one request.
func clients(t *testing.T) (*awsfake.Server, *secretsmanager.Client, *ssm.Client) {
	t.Helper()
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-west-2"), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return f, secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
}

func code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestSecretsManagerModel(t *testing.T) {
	f, sm, _ := clients(t)
	ctx := context.Background()
	first := f.PutSecretString("app/s", "one")
	token := "11111111-2222-3333-4444-555555555555"
	put := func(value string) (*secretsmanager.PutSecretValueOutput, error) {
		return sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("app/s"), SecretString: aws.String(value), ClientRequestToken: aws.String(token),
		})
	}
	out, err := put("two")
	if err != nil || aws.ToString(out.VersionId) != token {
		t.Fatalf("put: %v, version %s", err, aws.ToString(out.VersionId))
	}
	if _, err := put("two"); err != nil || f.SecretVersions("app/s") != 2 {
		t.Errorf("same token, same value: %v, %d versions; want no new version", err, f.SecretVersions("app/s"))
	}
	if _, err := put("three"); code(err) != "ResourceExistsException" {
		t.Errorf("same token, other value: %v, want ResourceExistsException", err)
	}
	if _, prev, _ := f.SecretValue("app/s", awsfake.StagePrevious); prev != first {
		t.Errorf("AWSPREVIOUS is %s, want the first version %s", prev, first)
	}
	// Moving AWSCURRENT needs the version it leaves named.
	_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("app/s"), VersionStage: aws.String(awsfake.StageCurrent), MoveToVersionId: aws.String(first),
	})
	if code(err) != "InvalidParameterException" {
		t.Errorf("move without RemoveFromVersionId: %v, want InvalidParameterException", err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/s"), VersionStage: aws.String(awsfake.StagePrevious)})
	if err != nil || aws.ToString(got.SecretString) != "one" {
		t.Errorf("get AWSPREVIOUS: %v", err)
	}
	if _, err := sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: make([]string, 21)}); code(err) != "ValidationException" {
		t.Errorf("batch of 21: %v, want ValidationException", err)
	}
	if _, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: aws.String("bogus")}); code(err) != "InvalidNextTokenException" {
		t.Errorf("bad token: %v, want InvalidNextTokenException", err)
	}
	f.Throttle(1)
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/s")}); code(err) != "ThrottlingException" {
		t.Errorf("throttled: %v", err)
	}
	if got := f.Regions(); len(got) != 1 || got[0] != "us-west-2" {
		t.Errorf("regions %v, want [us-west-2]", got)
	}
}

func TestParameterStoreModel(t *testing.T) {
	f, _, client := clients(t)
	ctx := context.Background()
	f.PutParameter(awsfake.Parameter{Name: "/app/k", Value: "one", Type: awsfake.TypeSecureString, KeyID: "alias/app", Description: "d"})

	// An overwrite that leaves the key and description out loses them.
	out, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/k"), Value: aws.String("two"), Overwrite: aws.Bool(true)})
	if err != nil || out.Version != 2 {
		t.Fatalf("overwrite: %v", err)
	}
	if p, _ := f.Parameter("/app/k"); p.Type != awsfake.TypeSecureString || p.KeyID != awsfake.DefaultKeyID || p.Description != "" {
		t.Errorf("after a bare overwrite: type %s key %s description %q", p.Type, p.KeyID, p.Description)
	}
	_, err = client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/k"), Value: aws.String("x"), Overwrite: aws.Bool(true), Type: ssmtypes.ParameterTypeString})
	if code(err) != "HierarchyTypeMismatchException" {
		t.Errorf("type change: %v, want HierarchyTypeMismatchException", err)
	}
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/k"), Value: aws.String("x")}); code(err) != "ParameterAlreadyExists" {
		t.Errorf("no overwrite: %v, want ParameterAlreadyExists", err)
	}
	enc, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/k")})
	if err != nil || aws.ToString(enc.Parameter.Value) == "two" {
		t.Errorf("undecrypted SecureString read: %v, value in clear", err)
	}
	old, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/k:1"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(old.Parameter.Value) != "one" {
		t.Errorf("version selector: %v", err)
	}
	if _, err := client.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app"), MaxResults: aws.Int32(11)}); code(err) != "ValidationException" {
		t.Errorf("page of 11: %v, want ValidationException", err)
	}
	f.DenyParameter("/app/k")
	_, err = client.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app"), WithDecryption: aws.Bool(true)})
	if code(err) != "AccessDeniedException" {
		t.Errorf("decrypting a denied parameter's page: %v, want AccessDeniedException", err)
	}
	if _, err := client.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app")}); err != nil {
		t.Errorf("listing without decryption: %v", err)
	}
	if n := f.Calls(awsfake.SSM + "PutParameter"); n != 3 {
		t.Errorf("PutParameter counted %d times, want 3", n)
	}
}
