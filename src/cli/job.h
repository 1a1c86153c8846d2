/*
 * job.h - following a CIMI Job until it ends (--wait, cimi wait).
 */
#ifndef CIMI_CLI_JOB_H
#define CIMI_CLI_JOB_H

#include "cli/cli.h"

/*
 * Poll the Job at uri until it is SUCCESS, FAILED or STOPPED, showing its
 * progress on stderr (a bar on a terminal, plain lines otherwise).  0 on
 * SUCCESS; -1 with err: CLI_JOB when it FAILED or was STOPPED (the message
 * is the Job's statusMessage), CLI_TIMEOUT after cli->opt.timeout seconds,
 * or the error of a poll.
 */
int job_follow(struct cli *cli, const char *uri, struct cli_error *err);

#endif
