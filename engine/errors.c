/*
 * errors.c — the project's one error table (engine.h HEARTH_ERRORS) and the
 * helper every engine file uses to report a message with context.
 */
#include "engine_int.h"

#include <stdio.h>

const char *hearth_strerror(int code)
{
	switch (code) {
#define HEARTH_ERR_MSG(name, c, msg) case (c): return (msg);
	HEARTH_ERRORS(HEARTH_ERR_MSG)
#undef HEARTH_ERR_MSG
	}
	return "unknown error";
}

const char *hearth_errname(int code)
{
	switch (code) {
#define HEARTH_ERR_NAME(name, c, msg) case (c): return "HEARTH_" #name;
	HEARTH_ERRORS(HEARTH_ERR_NAME)
#undef HEARTH_ERR_NAME
	}
	return "HEARTH_E?";
}

int engine_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}
