package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authwatch/authwatch/internal/auth"
)

// A JWKS endpoint on loopback publishing one RSA and one Ed25519 key.
func TestVerifyJWKS(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	set := jwkset.NewMemoryStorage()
	ctx := context.Background()
	for kid, key := range map[string]any{"rsa-1": rsaKey.Public(), "ed-1": edKey.Public()} {
		jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		if err := set.KeyWrite(ctx, jwk); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := set.JSONPublic(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	defer srv.Close()
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v, err := auth.NewJWKS(vctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	claims := jwt.MapClaims{"sub": "u1", "tenant_id": "acme", "exp": time.Now().Add(time.Hour).Unix()}
	withKid := func(m jwt.SigningMethod, kid string, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256 with a published key", withKid(jwt.SigningMethodRS256, "rsa-1", rsaKey), true},
		{"EdDSA with a published key", withKid(jwt.SigningMethodEdDSA, "ed-1", edKey), true},
		{"HS256 signed with the RSA public key (alg confusion)", withKid(jwt.SigningMethodHS256, "rsa-1", pubPEM), false},
		{"RS256 signed by an unknown key", withKid(jwt.SigningMethodRS256, "rsa-1", otherKey), false},
		{"unknown kid", withKid(jwt.SigningMethodRS256, "nope", rsaKey), false},
		{"alg none", withKid(jwt.SigningMethodNone, "rsa-1", jwt.UnsafeAllowNoneSignatureType), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(tt.token)
			if tt.ok && (err != nil || p.TenantID != "acme") {
				t.Fatalf("Verify = %+v, %v", p, err)
			}
			if !tt.ok && !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Verify accepted it: %+v, %v", p, err)
			}
		})
	}
}
