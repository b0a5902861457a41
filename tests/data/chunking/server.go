// Package server runs the HTTP API.
package server

import (
	"fmt"
	"net/http"
)

const defaultPort = 8080

// Server serves the search API over HTTP.
type Server struct {
	addr string
	mux  *http.ServeMux
}

// Handler answers one kind of request.
type Handler interface {
	Serve(w http.ResponseWriter, r *http.Request)
}

// NewServer builds a server listening on addr.
func NewServer(addr string) *Server {
	return &Server{addr: addr, mux: http.NewServeMux()}
}

// Start listens and serves until the listener fails.
// It never returns nil.
func (s *Server) Start() error {
	fmt.Println("listening on", s.addr)
	return http.ListenAndServe(s.addr, s.mux)
}

func (q Queue[T]) Len() int { return len(q.items) }
