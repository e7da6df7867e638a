// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* log_libbpf.c - libbpf's messages into our sink, one level quieter. */
#include <stdarg.h>

#include <bpf/libbpf.h>

#include "log.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	enum vif_log_level ours;

	switch (level) {
	case LIBBPF_WARN:
		ours = LOG_LVL_INFO;
		break;
	case LIBBPF_INFO:
	default:
		ours = LOG_LVL_DEBUG;
		break;
	}
	if (level == LIBBPF_DEBUG)
		return 0;
	log_vmsg(ours, fmt, ap);
	return 0;
}

void log_hook_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
