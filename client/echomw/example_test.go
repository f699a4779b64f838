package echomw_test

import (
	"log"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/client/echomw"
	"github.com/authwatch/authwatch/event"
)

// An Echo login route: locked-out IPs get the 429 before the handler runs,
// and the handler records each outcome.
func ExampleLockouts() {
	nc, err := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: "acme"})
	if err != nil {
		log.Fatal(err)
	}
	defer lockouts.Close()
	pub, err := client.NewPublisher(nc)
	if err != nil {
		log.Fatal(err)
	}
	guard := &client.LoginGuard{Lockouts: lockouts, Publisher: pub, TenantID: "acme"}

	e := echo.New()
	e.POST("/login", func(c echo.Context) error {
		userID, ok := "usr_42", c.FormValue("password") == "correct horse" // your check here
		if !ok {
			_ = guard.RecordLogin(c.Request(), client.LoginAttempt{Status: event.StatusFailed, UserID: userID, FailureReason: "wrong password"})
			return c.JSON(http.StatusUnauthorized, map[string]string{"message": "Invalid credentials."})
		}
		_ = guard.RecordLogin(c.Request(), client.LoginAttempt{Status: event.StatusSuccess, UserID: userID})
		return c.NoContent(http.StatusNoContent)
	}, echomw.Lockouts(guard))
	log.Fatal(e.Start(":8080"))
}
