#include "cluster_process.h"

namespace qim::e2e {

const char* qimd_path() {
  return QIM_E2E_QIMD_PATH;
}
const char* qim_path() {
  return QIM_E2E_QIM_PATH;
}
const char* qimctl_path() {
  return QIM_E2E_QIMCTL_PATH;
}

}  // namespace qim::e2e
