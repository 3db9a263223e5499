// The simulation tests' own Catch2 main (the unit tests have theirs).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
