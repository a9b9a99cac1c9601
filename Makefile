# Two commands: `make book` (environment + every chapter executed + HTML) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= embedded
BOOK_ARGS ?=
# EXECUTOR=ray computes the runs the store lacks as Ray tasks (on RAY_ADDRESS=host:port; default a local instance).
EXECUTOR ?= local
RAY_ADDRESS ?=

.PHONY: book test env clean lint-notebooks results verify

book: $(VENV)/.installed
	$(BIN)/python scripts/build_book.py --profile $(PROFILE) --executor $(EXECUTOR) \
	  $(if $(filter ray,$(EXECUTOR)),$(if $(RAY_ADDRESS),--address $(RAY_ADDRESS))) $(BOOK_ARGS)

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

env: $(VENV)/.installed

# The environment is rebuilt whenever the package metadata or the pinned versions change.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,test,cluster]"
	touch $@

# Recompute the committed results store (store/) from nothing: every chapter, every zoo model. Resumable: run it
# again after an interruption and it continues. Commit store/ afterwards.
results: $(VENV)/.installed
	$(BIN)/python scripts/build_results.py --profile $(PROFILE) --executor $(EXECUTOR) \
	  $(if $(filter ray,$(EXECUTOR)),$(if $(RAY_ADDRESS),--address $(RAY_ADDRESS))) $(RESULTS_ARGS)

# Check the results store: every record readable and keyed by its configuration; recompute VERIFY_SAMPLE records.
VERIFY_SAMPLE ?= 10
verify: $(VENV)/.installed
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m tlcore verify --sample $(VERIFY_SAMPLE)

clean:
	rm -rf _build results .cache

# The built site as a reader gets it (run after `make book`): tracebacks, empty/nan glued values, broken links,
# anchors and images, and one Chromium screenshot per page under _build/screenshots. Installs Chromium (as root,
# from Debian) where it is missing; SITE_CHECK_ARGS=--no-screenshots checks the HTML only.
SITE_CHECK_ARGS ?=
.PHONY: site-check
site-check: $(VENV)/.installed
	command -v chromium >/dev/null || case " $(SITE_CHECK_ARGS) " in *" --no-screenshots "*) ;; \
	  *) apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium ;; esac
	$(BIN)/python scripts/site_check.py $(SITE_CHECK_ARGS)
