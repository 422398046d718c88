package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/lib/pq"
	"modernc.org/sqlite"
)

// Unavailable says whether err means the database cannot be reached or cannot answer now
// (refused or dropped connections, a server starting up or shutting down, a closed pool, a
// database locked past the busy timeout), as opposed to a fault of the query or the data: the
// caller may try again later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		code := string(pe.Code)
		// 08: connection exception; 57P01-57P05: admin or crash shutdown, cannot connect now,
		// idle session timeout; 53300: too many connections.
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || code == "53300"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED: another writer held on past the busy timeout
			return true
		}
		return false
	}
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &op), errors.As(err, &dns):
		return true
	}
	// database/sql says so only in words.
	return strings.Contains(err.Error(), "sql: database is closed")
}
