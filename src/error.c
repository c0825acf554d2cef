/*
 * error.c - the single mapping from ap_err to HTTP status (SPEC section 3).
 */
#include "error.h"

static const struct {
	int status;
	const char *text;
} err_table[AP_ERR__COUNT] = {
	[AP_OK] = {200, "ok"},
	[AP_ERR_BAD_REQUEST] = {400, "bad request"},
	[AP_ERR_UNAUTHORIZED] = {401, "not authenticated"},
	[AP_ERR_FORBIDDEN] = {403, "not allowed"},
	[AP_ERR_NOT_FOUND] = {404, "not found"},
	[AP_ERR_METHOD] = {405, "method not allowed"},
	[AP_ERR_TOO_LARGE] = {413, "request too large"},
	[AP_ERR_URI_TOO_LONG] = {414, "URL too long"},
	[AP_ERR_HEADER_TOO_LARGE] = {431, "request header too large"},
	[AP_ERR_NOT_READY] = {503, "dataset not ready"},
	[AP_ERR_UNAVAILABLE] = {503, "service unavailable"},
	[AP_ERR_STORAGE] = {502, "storage failed"},
	[AP_ERR_TIMEOUT] = {504, "storage timed out"},
	[AP_ERR_NOMEM] = {503, "out of memory"},
	[AP_ERR_INTERNAL] = {500, "internal error"},
	[AP_ERR_CONFIG] = {500, "misconfigured"},
	[AP_ERR_IO] = {500, "local I/O error"},
};

int ap_err_status(enum ap_err e)
{
	if ((unsigned)e >= AP_ERR__COUNT)
		return 500;
	return err_table[e].status;
}

const char *ap_err_str(enum ap_err e)
{
	if ((unsigned)e >= AP_ERR__COUNT)
		return "internal error";
	return err_table[e].text;
}

const char *ap_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}
