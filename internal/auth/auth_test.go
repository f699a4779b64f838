package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authwatch/authwatch/internal/auth"
)

var secret = []byte("a-test-secret-of-32-bytes-length")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyHS256(t *testing.T) {
	v, err := auth.NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := jwt.MapClaims{"sub": "u1", "tenant_id": "acme", "permissions": []string{"admin.audit_log"}, "exp": now.Add(time.Hour).Unix()}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", sign(t, jwt.SigningMethodHS256, secret, good), true},
		{"no expiry is accepted", sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), true},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), false},
		{"HS512 is not HS256", sign(t, jwt.SigningMethodHS512, secret, good), false},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-32-bytes-long!!!!"), good), false},
		{"RSA public key used as HMAC secret", sign(t, jwt.SigningMethodHS256, rsaPubPEM, good), false},
		{"RS256 token", sign(t, jwt.SigningMethodRS256, rsaKey, good), false},
		{"ES256 token", sign(t, jwt.SigningMethodES256, ecKey, good), false},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())), false},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())), false},
		{"within clock skew leeway", sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-10*time.Second).Unix())), true},
		{"missing sub", sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)), false},
		{"missing tenant_id", sign(t, jwt.SigningMethodHS256, secret, with("tenant_id", nil)), false},
		{"empty tenant_id", sign(t, jwt.SigningMethodHS256, secret, with("tenant_id", "")), false},
		{"tenant_id a NATS wildcard", sign(t, jwt.SigningMethodHS256, secret, with("tenant_id", "acme.>")), false},
		{"tenant_id with a space", sign(t, jwt.SigningMethodHS256, secret, with("tenant_id", "ac me")), false},
		{"garbage", "not.a.jwt", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.UserID != "u1" || p.TenantID != "acme" || !p.Admin() {
					t.Errorf("principal = %+v", p)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("Verify = %+v, %v; want ErrUnauthenticated", p, err)
			}
		})
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := auth.NewHS256([]byte("short")); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}

func TestSignRoundTrip(t *testing.T) {
	v, _ := auth.NewHS256(secret)
	tok, err := auth.SignHS256(secret, auth.Principal{UserID: "u2", TenantID: "t2"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil || p.UserID != "u2" || p.TenantID != "t2" || p.Admin() {
		t.Errorf("round trip = %+v, %v", p, err)
	}
}
