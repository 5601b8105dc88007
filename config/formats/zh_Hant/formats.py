# Numbers as Chinese finance and console software write them (CLDR: #,##0.###): grouped by
# three with commas. Django's own zh formats group by four with no separator at all, which
# makes 12345678 tokens unreadable. Dates and input formats stay Django's.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
