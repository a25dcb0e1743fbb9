// hpo-cli: command-line client of hpo-server. See client/cli/commands.h and `hpo-cli help`.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return hpo::cli::Main(args, std::getenv("HPO_SERVER"), std::cout, std::cerr);
}
