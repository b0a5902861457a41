package main

import (
	"fmt"
	"net/http"
	"strings"
)

// Server answers health checks and greets users over HTTP.
type Server struct {
	addr string
}

// HandleHealth reports that the server is alive with a 200 status.
func (s *Server) HandleHealth(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	fmt.Fprintln(w, "ok")
}

// ReverseWords returns the words of a sentence in reverse order.
func ReverseWords(sentence string) string {
	words := strings.Fields(sentence)
	for i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {
		words[i], words[j] = words[j], words[i]
	}
	return strings.Join(words, " ")
}

func main() {
	s := &Server{addr: ":8080"}
	http.HandleFunc("/health", s.HandleHealth)
	http.ListenAndServe(s.addr, nil)
}
