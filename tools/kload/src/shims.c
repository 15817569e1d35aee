/*
 * shims.c -- the variadic DDI entry points of the kload kernel emulation.
 *
 * Stable Rust cannot define a C variadic function, so these few are C:
 * each formats its arguments with the C library's vsnprintf and hands
 * the text to a Rust sink registered by kload_shims_init() before any
 * module code runs.  Everything else about them (routing, result
 * bookkeeping, truncation notices, panics) is decided on the Rust side,
 * in src/emu/.
 *
 * The C library's printf is not the kernel's: illumos' kernel vsnprintf
 * also knows %b and ignores some flags.  dlszone only ever passes "%s"
 * (the text is formatted by Rust), so the difference does not show.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* What a formatted text is for; the Rust side has the same values. */
enum kload_text_kind {
	KLOAD_TEXT_CMN_ERR = 1,		/* arg: the CE_* level */
	KLOAD_TEXT_RESULT_FAIL = 2,	/* arg: the line */
	KLOAD_TEXT_RESULT_ERROR = 3,	/* arg: the line */
	KLOAD_TEXT_RESULT_SKIP = 4,	/* arg: the line */
	KLOAD_TEXT_MSG_PREPEND = 5	/* arg: unused */
};

/*
 * ktest keeps result and prepend messages in KTEST_MAX_LOG_LEN (4096)
 * byte buffers and formats them with vsnprintf; a longer text is cut.
 * The sink gets the text as kept and the length vsnprintf wanted.
 */
#define	KTEST_MSG_LEN	4096

typedef void (*kload_text_sink_t)(int kind, void *ctx, int arg,
    const char *text, size_t wanted);
typedef void (*kload_panic_sink_t)(const char *text);

static kload_text_sink_t text_sink;
static kload_panic_sink_t panic_sink;

void
kload_shims_init(kload_text_sink_t text, kload_panic_sink_t panic)
{
	text_sink = text;
	panic_sink = panic;
}

/* Formats into a buffer of its own size; the caller frees it. */
static char *
format_all(const char *fmt, va_list ap)
{
	va_list aq;
	int n;
	char *buf;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		n = 0;
	buf = malloc((size_t)n + 1);
	if (buf == NULL)
		abort();
	(void) vsnprintf(buf, (size_t)n + 1, fmt, ap);
	return (buf);
}

static void
ktest_text(int kind, void *ctx, int arg, const char *fmt, va_list ap)
{
	char buf[KTEST_MSG_LEN];
	int n;

	n = vsnprintf(buf, sizeof (buf), fmt, ap);
	text_sink(kind, ctx, arg, buf, n < 0 ? 0 : (size_t)n);
}

/*
 * cmn_err(9F): a format starting with '!', '^' or '?' routes the message
 * (log only, console only, log and verbose console); that character is
 * not printed.  It reaches the sink in the ctx argument.
 */
void
kload_cmn_err(int ce, const char *fmt, ...)
{
	va_list ap;
	char *text;
	const char *body = fmt;
	char route = 0;

	if (fmt[0] == '!' || fmt[0] == '^' || fmt[0] == '?')
		route = *body++;
	va_start(ap, fmt);
	text = format_all(body, ap);
	va_end(ap);
	text_sink(KLOAD_TEXT_CMN_ERR, (void *)(size_t)(unsigned char)route,
	    ce, text, 0);
	free(text);
}

__attribute__((noreturn)) void
kload_panic(const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = format_all(fmt, ap);
	va_end(ap);
	panic_sink(text);
	abort();	/* the sink does not return */
}

void
kload_ktest_result_fail(void *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktest_text(KLOAD_TEXT_RESULT_FAIL, ctx, line, fmt, ap);
	va_end(ap);
}

void
kload_ktest_result_error(void *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktest_text(KLOAD_TEXT_RESULT_ERROR, ctx, line, fmt, ap);
	va_end(ap);
}

void
kload_ktest_result_skip(void *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktest_text(KLOAD_TEXT_RESULT_SKIP, ctx, line, fmt, ap);
	va_end(ap);
}

void
kload_ktest_msg_prepend(void *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktest_text(KLOAD_TEXT_MSG_PREPEND, ctx, 0, fmt, ap);
	va_end(ap);
}
