package httperr

import (
	"net/http"

	"eventops/engine"
)

// Class is how an engine error kind is answered over HTTP: its status, the
// problem type a program reads (the API's problem+json) and the title a
// person reads (the dashboard's error page).
type Class struct {
	Status int
	Type   string
	Title  string
}

// kinds is the one place where an error kind becomes an HTTP status. Both
// renderers read it through Of: web's problem+json and web/dash's HTML
// pages, so that an API client and a browser see the same status for the
// same refusal.
var kinds = map[engine.Kind]Class{
	engine.KindInvalid:      {http.StatusUnprocessableEntity, TypeValidation, "Invalid input"},
	engine.KindNotFound:     {http.StatusNotFound, TypeNotFound, "Not found"},
	engine.KindConflict:     {http.StatusConflict, TypeConflict, "Not possible now"},
	engine.KindUnauthorized: {http.StatusUnauthorized, TypeUnauthorized, "Not signed in"},
	engine.KindForbidden:    {http.StatusForbidden, TypeForbidden, "Not allowed"},
	engine.KindOverloaded:   {http.StatusServiceUnavailable, TypeOverloaded, "Too busy now"},
	engine.KindUnavailable:  {http.StatusServiceUnavailable, TypeShopUnavailable, "Shop unreachable"},
}

// internal is the class of KindInternal and of any kind not in the table:
// a kind added to the engine and not mapped here is a 500, never a guess.
var internal = Class{http.StatusInternalServerError, TypeInternal, "Internal error"}

// Of returns the class of an error kind.
func Of(k engine.Kind) Class {
	if c, ok := kinds[k]; ok {
		return c
	}
	return internal
}
