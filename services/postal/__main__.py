from services.postal.app import build_runtime
from shared.service import run

if __name__ == "__main__":
    run(build_runtime())
