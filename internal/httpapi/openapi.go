package httpapi

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
	"sigs.k8s.io/yaml"

	"github.com/authwatch/authwatch/api"
)

// openAPIJSON converts the embedded YAML document once, on first request:
// the document is written as YAML for people and served as JSON for tools.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := yaml.YAMLToJSON(api.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	return doc, nil
})

// GET /api/openapi.json — the OpenAPI 3.1 document of this API.
func (s *Server) openAPI(c echo.Context) error {
	doc, err := openAPIJSON()
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc)
}
