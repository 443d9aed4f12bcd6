/* Access Control (Object 2): what each LwM2M server may do with each
 * object instance, decided from the Access Control instances in the data
 * model itself, so that instances written by a bootstrap server or by an
 * owner server's Write take effect at once.  (TS Core 1.1 section 7.3.) */
#ifndef LWM_ACL_H
#define LWM_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* ACL bits (/2/x/2/<ssid>). */
#define LWM_ACL_READ 1u    /* Read, Observe, Discover, Write-Attributes */
#define LWM_ACL_WRITE 2u
#define LWM_ACL_EXECUTE 4u
#define LWM_ACL_DELETE 8u
#define LWM_ACL_CREATE 16u /* on the object-level instance only */
#define LWM_ACL_ALL 31u
/* /2/x/1 of the object-level instance, which holds the Create right; also
 * the Access Control Owner value "bootstrap only". */
#define LWM_ACL_OBJECT 65535u

/* Access control applies once the model holds more than one Server
 * (/1) instance; with one server, that server may do everything. */
bool lwm_acl_enforced(const struct lwm_model *m);

/* The rights of the server with Short Server ID ssid on the object
 * instance /oid/iid (iid LWM_ACL_OBJECT: the object-level rights):
 * - the Security object (0): none, ever;
 * - not enforced: all;
 * - an Access Control instance (oid, iid) (its /2/x/0 and /2/x/1) exists:
 *   its ACL entry keyed ssid; else all when ssid is its Access Control
 *   Owner; else the default entry (key 0); else none;
 * - none exists: a Server instance /1/iid is its own server's (full
 *   rights; Create and Delete excepted), anything else gets none;
 * - the Access Control instances themselves (oid 2): any server may read
 *   them, only the instance's owner may write it, nobody else may do
 *   anything (creating and deleting them is the bootstrap server's). */
unsigned lwm_acl_rights(const struct lwm_model *m, uint16_t ssid, uint16_t oid, uint16_t iid);

/* The Access Control instance governing /oid/iid, or -ENOENT. */
int lwm_acl_find(const struct lwm_model *m, uint16_t oid, uint16_t iid);

/* Add Access Control instance /2/ac_iid for /oid/iid with the given owner
 * (device layer; a bootstrap server writes the same resources). */
int lwm_acl_add(struct lwm_model *m, uint16_t ac_iid, uint16_t oid, uint16_t iid,
		uint16_t owner);
/* Set the ACL entry of ssid (0: the default) in /2/ac_iid. */
int lwm_acl_set(struct lwm_model *m, uint16_t ac_iid, uint16_t ssid, unsigned rights);

/* "RWE" -> bits; -EINVAL for any other letter or a repeated one. */
int lwm_acl_parse(const char *s, unsigned *out);

#endif
