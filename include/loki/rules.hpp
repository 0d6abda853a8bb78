// The rule registry; kept so existing includes work. See <loki/rule.hpp>.
#pragma once

#include <loki/rule.hpp>
