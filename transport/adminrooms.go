package transport

import (
	"errors"
	"net/http"

	"parley/actors"
)

// deleteRoom serves DELETE /rooms/{name} on the admin listener: an
// operator deletes a room (`parley room delete NAME` calls it). 204 when
// deleted; 404 for a room the server does not know; 409 for a default
// room.
func (s *Server) deleteRoom(w http.ResponseWriter, r *http.Request) {
	err := s.hub.DeleteRoom(r.Context(), r.PathValue("name"))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, actors.ErrNoRoom):
		http.Error(w, "no such room", http.StatusNotFound)
	case errors.Is(err, actors.ErrDefaultRoom):
		http.Error(w, "a default room cannot be deleted", http.StatusConflict)
	default:
		s.log.Error("delete room", "err", err)
		http.Error(w, "could not delete the room: "+err.Error(), http.StatusServiceUnavailable)
	}
}
