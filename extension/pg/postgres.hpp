// The one way C++ files of the extension include PostgreSQL's headers:
// extern "C", postgres.h first. Include it only from .cpp files and from the
// thin wrappers in this folder; C++-heavy headers use pg_fwd.hpp instead.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}
