// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* log.c - the log sink behind include/log.h: stderr, level-filtered. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/* The one process-wide setting a library may keep: how loud to be. */
static enum vif_log_level log_level = LOG_LVL_INFO;

void log_set_level(enum vif_log_level level)
{
	log_level = level;
}

enum vif_log_level log_get_level(void)
{
	return log_level;
}

void log_vmsg(enum vif_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "warn", "info", "debug" };

	if (level > log_level)
		return;
	fprintf(stderr, "vifplane %s: ", names[level]);
	vfprintf(stderr, fmt, ap);
}

void log_msg(enum vif_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
