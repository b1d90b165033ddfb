# The one way mk/ compiles sources: an object set.
#
#   $(eval $(call objset,NAME,CC,CFLAGS,SOURCES))
#
# compiles each of SOURCES (.c or .S, paths from the repository root) with
# CC CFLAGS into $(BUILD)/NAME/obj/<path>.o and sets NAME_OBJS to the list
# and NAME_DIR to $(BUILD)/NAME.  Dependencies on headers come from the
# compiler (-MMD -MP).  $(BUILD)/NAME/flags holds "CC CFLAGS" and is
# rewritten only when they change (DEBUG=1, another CC, ...), so the
# objects of a set rebuild then and only then; links and archives that
# depend on NAME_OBJS follow.  Every configuration of the tree (host
# suites, shims, libkspan.a, kernel, fuzzer, ...) is one object set.

.PHONY: FORCE
FORCE:

define objset
$(1)_DIR  := $$(BUILD)/$(1)
$(1)_OBJS := $$(patsubst %,$$(BUILD)/$(1)/obj/%.o,$$(basename $(4)))
$$(BUILD)/$(1)/flags: FORCE
	@mkdir -p $$(dir $$@)
	@echo '$(2) $(3)' > $$@.new; \
	 if cmp -s $$@.new $$@; then rm -f $$@.new; else mv $$@.new $$@; fi
$$(BUILD)/$(1)/obj/%.o: %.c $$(BUILD)/$(1)/flags
	@mkdir -p $$(dir $$@)
	$$(Q)$(2) $(3) -MMD -MP -c $$< -o $$@
$$(BUILD)/$(1)/obj/%.o: %.S $$(BUILD)/$(1)/flags
	@mkdir -p $$(dir $$@)
	$$(Q)$(2) $(3) -MMD -MP -c $$< -o $$@
-include $$(patsubst %.o,%.d,$$($(1)_OBJS))
endef
