/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * handlers.h - the control socket's commands (docs/PROTOCOL.md), over the
 * modules held by struct vifd.
 *
 * Reads come straight from the modules (VIF manager, gateway and quota
 * managers, traffic history, store).  Every configuration change goes
 * through the change pipeline: the direct commands (vif.create, ...) as
 * one-item change sets, changeset.* as the client wrote them.  vif.retry
 * and quota.reset are operations and call the modules directly.
 *
 * The built-ins (hello, ping, commands, events.*) belong to api.c.
 */
#ifndef VIF_CONTROL_HANDLERS_H
#define VIF_CONTROL_HANDLERS_H

#include "model.h"

struct vifd;

/* Register every command; 0 or the first api_register() error. */
int handlers_register(struct vifd *d);

/* "STOPPED", "STARTING", "RUNNING", "FAILED": the protocol's spelling. */
const char *handlers_gw_state_name(enum vifd_gw_state state);

#endif /* VIF_CONTROL_HANDLERS_H */
