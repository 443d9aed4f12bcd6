/* The stdin command language (see README.md). */
#ifndef TS_COMMANDS_H
#define TS_COMMANDS_H

/* Run one command line (no newline; modified in place).  Errors are
 * reported as error events.  Returns 1 when the command is quit, else 0. */
int cmd_exec(char *line);

/* "tlv", "senml-json", ..., or a number; -1 when unknown. */
int cmd_parse_format(const char *s);

#endif
