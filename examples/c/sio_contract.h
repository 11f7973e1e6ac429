/*
 * The Socket.IO part of the C example server (sio_contract.c): the
 * Socket.IO example contract, as core/examples/sio_contract.rs serves it.
 */
#ifndef WSRT_EXAMPLE_SIO_CONTRACT_H
#define WSRT_EXAMPLE_SIO_CONTRACT_H

#include <stdbool.h>

#include "wsrt.h"

/* Adds /engine.io/ and /socket.io/ (namespaces "/", approved by the app,
 * and "/custom") with the contract's options, and the /chat page and the
 * client script when $WSRT_CHAT_PAGE and $WSRT_SIO_CLIENT name them. On
 * failure returns the failing call's result and names the step in *what. */
wsrt_result sio_contract_configure(wsrt_config *cfg, const char **what);

/* Handles an event of an Engine.IO session or a Socket.IO socket; returns
 * false, doing nothing, for any other event. */
bool sio_contract_handle(wsrt_server *srv, const wsrt_event *ev);

/* Frees what the handlers keep (call after the server is freed). */
void sio_contract_free(void);

#endif
