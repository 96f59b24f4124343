/*
 * test_cli.c — the command-line parser and the JSON config loader, every
 * error path: unknown command, unknown flag, flag of another command,
 * missing and malformed values, config file errors (missing file, bad
 * JSON, not an object, unknown key, wrong type), and flags overriding the
 * config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[1024];

static int parse(struct hearth_cli *c, int argc, ...)
{
	char *argv[32];
	va_list ap;
	int i;

	va_start(ap, argc);
	argv[0] = "hearth";
	for (i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	err[0] = '\0';
	return cli_parse(argc, argv, c, err, sizeof(err));
}

/* Write text to a fresh temporary file; returns its path (static buffer). */
static const char *config_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/hearth-cli-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults_and_subcommands(void **state)
{
	struct hearth_cli c;

	(void)state;
	assert_int_equal(parse(&c, 2, "serve"), 0);
	assert_int_equal(c.cmd, CMD_SERVE);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_int_equal(c.max_sessions, 10);
	assert_int_equal(parse(&c, 2, "version"), 0);
	assert_int_equal(c.cmd, CMD_VERSION);
	assert_int_equal(parse(&c, 3, "bench", "engine"), 0);
	assert_int_equal(c.n_args, 1);
	assert_string_equal(c.args[0], "engine");
}

static void test_help(void **state)
{
	struct hearth_cli c;

	(void)state;
	assert_int_equal(parse(&c, 2, "--help"), 0);
	assert_true(c.help);
	assert_int_equal(parse(&c, 3, "chat", "--help"), 0);
	assert_true(c.help);
	assert_int_equal(c.cmd, CMD_CHAT);
}

static void test_unknown_command_and_flags(void **state)
{
	struct hearth_cli c;

	(void)state;
	assert_int_equal(parse(&c, 1), 2);
	assert_non_null(strstr(err, "no command"));
	assert_int_equal(parse(&c, 2, "frobnicate"), 2);
	assert_non_null(strstr(err, "unknown command 'frobnicate'"));
	assert_int_equal(parse(&c, 3, "serve", "--nope"), 2);
	assert_non_null(strstr(err, "unknown flag '--nope'"));
	/* --listen belongs to serve, not chat */
	assert_int_equal(parse(&c, 4, "chat", "--listen", "1.2.3.4:5"), 2);
	assert_non_null(strstr(err, "--listen"));
	assert_int_equal(parse(&c, 3, "serve", "-x"), 2);
	assert_non_null(strstr(err, "'-x'"));
}

static void test_values(void **state)
{
	struct hearth_cli c;

	(void)state;
	assert_int_equal(parse(&c, 3, "serve", "--threads"), 2);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(parse(&c, 4, "serve", "--threads", "two"), 2);
	assert_non_null(strstr(err, "needs an integer"));
	assert_int_equal(parse(&c, 4, "serve", "--threads", "99999999999"), 2);
	assert_int_equal(parse(&c, 4, "chat", "--temperature", "hot"), 2);
	assert_non_null(strstr(err, "needs a number"));
	assert_int_equal(parse(&c, 3, "chat", "--temperature=inf"), 2);
	assert_int_equal(parse(&c, 3, "chat", "--raw=maybe"), 2);
	assert_non_null(strstr(err, "true or false"));
	assert_int_equal(parse(&c, 6, "chat", "--temperature=0.25", "--raw", "--seed", "-7"), 0);
	assert_true(c.temperature == 0.25);
	assert_true(c.raw);
	assert_int_equal(c.seed, -7);
	assert_int_equal(parse(&c, 4, "serve", "--listen", "[::1]:9000"), 0);
	assert_string_equal(c.listen, "[::1]:9000");
}

static void test_too_long_string(void **state)
{
	struct hearth_cli c;
	char big[CLI_STR + 10];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(&c, 4, "serve", "--listen", big), 2);
	assert_non_null(strstr(err, "too long"));
}

static void test_config_ok_and_override(void **state)
{
	const char *path = config_file("{\"listen\":\"127.0.0.1:9999\",\"threads\":3,"
				       "\"token\":\"s3cret\",\"max-sessions\":4}");
	struct hearth_cli c;

	(void)state;
	assert_int_equal(parse(&c, 4, "serve", "--config", path), 0);
	assert_string_equal(c.listen, "127.0.0.1:9999");
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.max_sessions, 4);
	/* a flag wins over the file, wherever it stands */
	assert_int_equal(parse(&c, 6, "serve", "--threads", "1", "--config", path), 0);
	assert_int_equal(c.threads, 1);
	unlink(path);
}

static void expect_config_error(const char *text, const char *needle)
{
	const char *path = config_file(text);
	struct hearth_cli c;

	assert_int_equal(parse(&c, 4, "serve", "--config", path), 2);
	assert_non_null(strstr(err, needle));
	assert_non_null(strstr(err, path)); /* the message names the file */
	unlink(path);
}

static void test_config_errors(void **state)
{
	struct hearth_cli c;

	(void)state;
	expect_config_error("{\"listen\":", "not valid JSON");
	expect_config_error("[1,2]", "must be a JSON object");
	expect_config_error("{\"colour\":\"red\"}", "unknown key 'colour'");
	expect_config_error("{\"threads\":\"two\"}", "key 'threads' must be an integer");
	expect_config_error("{\"threads\":1.5}", "key 'threads' must be an integer");
	expect_config_error("{\"listen\":8080}", "key 'listen' must be a string");
	expect_config_error("{\"json\":1}", "key 'json' must be true or false");
	expect_config_error("{\"temperature\":\"warm\"}", "key 'temperature' must be a number");
	expect_config_error("{\"config\":\"x.json\"}", "unknown key 'config'");
	assert_int_equal(parse(&c, 4, "serve", "--config", "/nonexistent/hearth.json"), 2);
	assert_non_null(strstr(err, "/nonexistent/hearth.json"));
	assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_subcommands),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_unknown_command_and_flags),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_too_long_string),
		cmocka_unit_test(test_config_ok_and_override),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
