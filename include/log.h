/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * log.h - one printf-checked log sink for user-space code.  The level is
 * checked before the arguments are evaluated.
 */
#ifndef VIF_INCLUDE_LOG_H
#define VIF_INCLUDE_LOG_H

#include <stdarg.h>

enum vif_log_level {
	LOG_LVL_WARN = 0,
	LOG_LVL_INFO = 1,
	LOG_LVL_DEBUG = 2,
};

void log_set_level(enum vif_log_level level);
enum vif_log_level log_get_level(void);
void log_msg(enum vif_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum vif_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Route libbpf's messages into our sink, one level quieter. */
void log_hook_libbpf(void);

#define pr_log(lvl, ...)                                                   \
	do {                                                               \
		if ((lvl) <= log_get_level())                              \
			log_msg((lvl), __VA_ARGS__);                       \
	} while (0)
#define pr_warn(...) pr_log(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...) pr_log(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) pr_log(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* VIF_INCLUDE_LOG_H */
