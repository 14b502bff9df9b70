/* livetally: command line, config, then the master process. */
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"
#include "livetally/proc/master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    lt_mem_install_hooks();
    struct lt_config cfg;
    struct lt_cli cli;
    char err[1024]; /* config errors: single snprintfs, cut short when long */
    memset(&cfg, 0, sizeof cfg);
    memset(&cli, 0, sizeof cli);
    if (lt_config_load_args(&cfg, &cli, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "livetally: %s\n", err);
        return 2;
    }
    if (cli.help || cli.version || cli.check_config) {
        if (cli.help)
            lt_config_print_help(stdout);
        else if (cli.version)
            printf("livetally %s\n", LT_VERSION);
        else
            printf("%s: configuration is valid\n", cfg.path ? cfg.path : "(defaults)");
        lt_config_free(&cfg);
        return 0;
    }
    lt_log_configure(cfg.log_level, cfg.log_format);
    const struct lt_config *snap = lt_config_snapshot(&cfg);
    int rc = lt_master_run(snap, argc, argv);
    lt_config_unref(snap);
    return rc;
}
