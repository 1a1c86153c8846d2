/*
 * output.h - printing what the server returned, in the chosen format.
 *
 *   table      (default) collections as aligned columns chosen per type,
 *              a single resource as "attribute  value" lines
 *   json, xml  the server's document exactly as received (requested in
 *              that format)
 *   yaml-like  indented "key: value" lines
 *   ids        one id per line (a collection's items, or the resource)
 */
#ifndef CIMI_CLI_OUTPUT_H
#define CIMI_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

#include "cli/cli.h"

/* Parse "table", "json", "xml", "yaml-like" (or "yaml"), "ids"; -1 if unknown. */
int output_parse_format(const char *name, enum out_format *format);

/* Print a 2xx reply's document (requested with cli_accept()). */
int output_reply(struct cli *cli, const struct http_reply *reply, struct cli_error *err);

/* GET url in the output format and print it. */
int output_url(struct cli *cli, const char *url, struct cli_error *err);

/* Print a document the client built or parsed (table, yaml-like, ids, json). */
void output_doc(const struct cli *cli, const json_t *doc);

/* ---- table.c ---- */

/* A collection document as a table fitted to `width` columns (0: no limit). */
void table_print_collection(FILE *out, const json_t *doc, int width);

/* A single resource as "attribute  value" lines. */
void table_print_resource(FILE *out, const json_t *doc);

/* A size in KiB in a readable unit ("1 GiB", "1.5 MiB"). */
void table_human_kib(long long kib, char *buf, size_t len);

#endif
