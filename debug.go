package tevent

import (
	"context"
	"log/slog"
)

// tevent's debug levels mapped onto slog levels.
const (
	levelFatal   = slog.LevelError + 4
	levelError   = slog.LevelError
	levelWarning = slog.LevelWarn
	levelTrace   = slog.LevelDebug
)

func (l *loop) debugf(level slog.Level, msg string, args ...any) {
	if l.log == nil {
		return
	}
	l.log.Log(context.Background(), level, msg, args...)
}
