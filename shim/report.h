/* The message formatter lives in pool/report.h (the pools report misuse with
 * it too); kept here for the shim's files until they include it directly. */
#include "pool/report.h"
