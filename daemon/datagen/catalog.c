/* catalog.c: the generator's fixed vocabulary (see catalog.h and docs/datagen.md). Changing
 * any table changes every generated data set: the known numbers in tests depend on it. */
#include <string.h>

#include "catalog.h"
#include "rng.h"

const struct cat_department cat_departments[] = {
	{ "engineering", "Engineering", 30, {
	    { "software_engineer", 40 }, { "senior_engineer", 25 },
	    { "staff_engineer", 8 }, { "engineering_manager", 7 },
	    { "sre", 10 }, { "qa_engineer", 10 }, { NULL, 0 } } },
	{ "sales", "Sales", 18, {
	    { "account_executive", 40 }, { "sales_development_rep", 30 },
	    { "sales_manager", 15 }, { "sales_engineer", 15 }, { NULL, 0 } } },
	{ "finance", "Finance", 8, {
	    { "accountant", 40 }, { "financial_analyst", 30 },
	    { "controller", 10 }, { "ap_specialist", 20 }, { NULL, 0 } } },
	{ "hr", "Human Resources", 5, {
	    { "hr_generalist", 50 }, { "recruiter", 35 },
	    { "hr_manager", 15 }, { NULL, 0 } } },
	{ "marketing", "Marketing", 9, {
	    { "marketing_specialist", 50 }, { "content_writer", 25 },
	    { "marketing_manager", 25 }, { NULL, 0 } } },
	{ "support", "Customer Support", 14, {
	    { "support_engineer", 60 }, { "support_lead", 25 },
	    { "support_manager", 15 }, { NULL, 0 } } },
	{ "legal", "Legal", 3, {
	    { "counsel", 70 }, { "paralegal", 30 }, { NULL, 0 } } },
	{ "it", "IT", 6, {
	    { "it_administrator", 50 }, { "helpdesk_technician", 35 },
	    { "security_engineer", 15 }, { NULL, 0 } } },
	{ "operations", "Operations", 7, {
	    { "operations_analyst", 60 }, { "operations_manager", 40 },
	    { NULL, 0 } } },
};
const size_t cat_ndepartments = sizeof cat_departments / sizeof cat_departments[0];

const char *const cat_locations[] = {
	"New York", "San Francisco", "Austin", "London", "Berlin", "Paris",
	"São Paulo", "Zürich", "Tokyo", "Bangalore", "Kraków", "Remote",
};
const size_t cat_nlocations = sizeof cat_locations / sizeof cat_locations[0];

const struct cat_name cat_first_names[] = {
	{ "James", "james" }, { "Mary", "mary" }, { "John", "john" },
	{ "Patricia", "patricia" }, { "Robert", "robert" }, { "Jennifer", "jennifer" },
	{ "Michael", "michael" }, { "Linda", "linda" }, { "William", "william" },
	{ "Elizabeth", "elizabeth" }, { "David", "david" }, { "Barbara", "barbara" },
	{ "Richard", "richard" }, { "Susan", "susan" }, { "Joseph", "joseph" },
	{ "Jessica", "jessica" }, { "Thomas", "thomas" }, { "Sarah", "sarah" },
	{ "Wei", "wei" }, { "Priya", "priya" }, { "Aisha", "aisha" },
	{ "Hiroshi", "hiroshi" }, { "Olga", "olga" }, { "Mohammed", "mohammed" },
	{ "Fatima", "fatima" }, { "Carlos", "carlos" }, { "Ana", "ana" },
	{ "Liam", "liam" }, { "Emma", "emma" }, { "Noah", "noah" },
	{ "José", "jose" }, { "Zoë", "zoe" }, { "François", "francois" },
	{ "Björn", "bjorn" }, { "Chloé", "chloe" }, { "Søren", "soren" },
	{ "Łukasz", "lukasz" }, { "Åsa", "asa" }, { "İlkay", "ilkay" },
	{ "Katherine \"Kate\"", "katherine" },
};
const size_t cat_nfirst_names = sizeof cat_first_names / sizeof cat_first_names[0];

const struct cat_name cat_last_names[] = {
	{ "Smith", "smith" }, { "Johnson", "johnson" }, { "Williams", "williams" },
	{ "Brown", "brown" }, { "Jones", "jones" }, { "Garcia", "garcia" },
	{ "Miller", "miller" }, { "Davis", "davis" }, { "Rodriguez", "rodriguez" },
	{ "Martinez", "martinez" }, { "Kim", "kim" }, { "Nguyen", "nguyen" },
	{ "Patel", "patel" }, { "Chen", "chen" }, { "Wang", "wang" },
	{ "Singh", "singh" }, { "Kowalski", "kowalski" }, { "Schmidt", "schmidt" },
	{ "Rossi", "rossi" }, { "Dubois", "dubois" }, { "Yamamoto", "yamamoto" },
	{ "Ivanova", "ivanova" }, { "Silva", "silva" }, { "Okafor", "okafor" },
	{ "Núñez", "nunez" }, { "Ångström", "angstrom" }, { "Müller", "muller" },
	{ "Øverland", "overland" }, { "Dvořák", "dvorak" }, { "Çelik", "celik" },
	{ "O'Brien", "obrien" }, { "García Márquez", "garciamarquez" },
	{ "Smith, Jr.", "smith" }, { "Lefèvre", "lefevre" },
};
const size_t cat_nlast_names = sizeof cat_last_names / sizeof cat_last_names[0];

/* The HR system is the source of truth; every owner has an Active Directory account. */
const struct cat_application cat_applications[] = {
	{ "app-workday", "Workday HR", "hr", LOGIN_DOTTED },
	{ "app-ad", "Active Directory", "directory", LOGIN_SAM },
	{ "app-salesforce", "Salesforce", "saas", LOGIN_EMAIL },
	{ "app-github", "GitHub", "saas", LOGIN_HANDLE },
	{ "app-sap", "SAP S/4HANA", "erp", LOGIN_UPPER },
	{ "app-jira", "Jira", "saas", LOGIN_EMAIL },
	{ "app-aws", "AWS", "cloud", LOGIN_SAM },
	{ "app-zendesk", "Zendesk", "saas", LOGIN_EMAIL },
};
const size_t cat_napplications = sizeof cat_applications / sizeof cat_applications[0];

const struct cat_group cat_groups[] = {
	{ "grp-ad-all-staff", "app-ad", "All Staff", "", "", 0 },
	{ "grp-ad-vpn-users", "app-ad", "VPN Users", "", "", 0 },
	{ "grp-ad-engineering", "app-ad", "Engineering", "engineering", "", 0 },
	{ "grp-ad-sales", "app-ad", "Sales", "sales", "", 0 },
	{ "grp-ad-finance", "app-ad", "Finance", "finance", "", 0 },
	{ "grp-ad-hr", "app-ad", "Human Resources", "hr", "", 0 },
	{ "grp-ad-marketing", "app-ad", "Marketing", "marketing", "", 0 },
	{ "grp-ad-support", "app-ad", "Customer Support", "support", "", 0 },
	{ "grp-ad-legal", "app-ad", "Legal", "legal", "", 0 },
	{ "grp-ad-it", "app-ad", "IT", "it", "", 0 },
	{ "grp-ad-operations", "app-ad", "Operations", "operations", "", 0 },
	{ "grp-ad-domain-admins", "app-ad", "Domain Admins", "it", "it_administrator", 0 },
	{ "grp-ad-eng-managers", "app-ad", "Engineering Managers", "engineering",
	    "engineering_manager", 0 },
	{ "grp-ad-ap-invoice-entry", "app-ad", "Finance AP Invoice Entry", "finance",
	    "ap_specialist", 1 },
	{ "grp-ad-ap-payment-approval", "app-ad", "Finance AP Payment Approval", "finance",
	    "controller", 1 },
	{ "grp-workday-ess", "app-workday", "Employee Self Service", "", "", 0 },
	{ "grp-workday-mss", "app-workday", "Manager Self Service", "",
	    "engineering_manager sales_manager marketing_manager support_manager "
	    "operations_manager hr_manager controller", 0 },
	{ "grp-workday-recruiting", "app-workday", "Recruiting", "hr", "recruiter", 0 },
	{ "grp-workday-payroll-processor", "app-workday", "Payroll Processor", "hr",
	    "hr_generalist", 1 },
	{ "grp-workday-payroll-approver", "app-workday", "Payroll Approver", "hr",
	    "hr_manager", 1 },
	{ "grp-salesforce-sales-user", "app-salesforce", "Sales User", "sales", "", 0 },
	{ "grp-salesforce-marketing-user", "app-salesforce", "Marketing User", "marketing", "", 0 },
	{ "grp-salesforce-quote-creator", "app-salesforce", "Quote Creator", "sales",
	    "account_executive sales_engineer", 1 },
	{ "grp-salesforce-discount-approver", "app-salesforce", "Discount Approver", "sales",
	    "sales_manager", 1 },
	{ "grp-github-engineering", "app-github", "engineering", "engineering", "", 0 },
	{ "grp-github-maintainers", "app-github", "maintainers", "engineering",
	    "senior_engineer staff_engineer", 0 },
	{ "grp-github-sre", "app-github", "sre", "engineering", "sre", 0 },
	{ "grp-github-qa", "app-github", "qa", "engineering", "qa_engineer", 0 },
	{ "grp-github-security", "app-github", "security", "it", "security_engineer", 0 },
	{ "grp-sap-fi-display", "app-sap", "FI_DISPLAY", "finance operations", "", 0 },
	{ "grp-sap-fi-vendor-maintain", "app-sap", "FI_VENDOR_MAINTAIN", "finance",
	    "ap_specialist", 1 },
	{ "grp-sap-fi-payment-run", "app-sap", "FI_PAYMENT_RUN", "finance", "controller", 1 },
	{ "grp-sap-co-reporting", "app-sap", "CO_REPORTING", "finance operations",
	    "financial_analyst controller operations_manager", 0 },
	{ "grp-jira-users", "app-jira", "jira-users", "", "", 0 },
	{ "grp-jira-admins", "app-jira", "jira-administrators", "it", "it_administrator", 0 },
	{ "grp-jira-engineering", "app-jira", "jira-engineering", "engineering", "", 0 },
	{ "grp-jira-marketing", "app-jira", "jira-marketing", "marketing", "", 0 },
	{ "grp-aws-readonly", "app-aws", "ReadOnlyAccess", "", "", 0 },
	{ "grp-aws-developers", "app-aws", "Developers", "engineering",
	    "software_engineer senior_engineer staff_engineer", 0 },
	{ "grp-aws-admins", "app-aws", "AdministratorAccess", "engineering it",
	    "sre it_administrator", 0 },
	{ "grp-aws-security-audit", "app-aws", "SecurityAudit", "it", "security_engineer", 0 },
	{ "grp-zendesk-agents", "app-zendesk", "Agents", "support", "", 0 },
	{ "grp-zendesk-admins", "app-zendesk", "Admins", "support",
	    "support_lead support_manager", 0 },
	{ "grp-zendesk-light-agents", "app-zendesk", "Light Agents", "sales engineering", "", 0 },
};
const size_t cat_ngroups = sizeof cat_groups / sizeof cat_groups[0];

const struct cat_sod_pair cat_sod_pairs[] = {
	{ "app-ad", "grp-ad-ap-invoice-entry", "grp-ad-ap-payment-approval" },
	{ "app-workday", "grp-workday-payroll-processor", "grp-workday-payroll-approver" },
	{ "app-salesforce", "grp-salesforce-quote-creator", "grp-salesforce-discount-approver" },
	{ "app-sap", "grp-sap-fi-vendor-maintain", "grp-sap-fi-payment-run" },
};
const size_t cat_nsod_pairs = sizeof cat_sod_pairs / sizeof cat_sod_pairs[0];

int
cat_app_index(const char *id)
{
	size_t	i;

	for (i = 0; i < cat_napplications; i++)
		if (strcmp(cat_applications[i].id, id) == 0)
			return ((int)i);
	return (-1);
}

int
cat_group_index(const char *id)
{
	size_t	i;

	for (i = 0; i < cat_ngroups; i++)
		if (strcmp(cat_groups[i].id, id) == 0)
			return ((int)i);
	return (-1);
}

size_t
cat_ntitles(size_t d)
{
	size_t	n;

	for (n = 0; n < CAT_MAX_TITLES && cat_departments[d].titles[n].name != NULL; n++)
		;
	return (n);
}

size_t
cat_pick_department(struct rng *r)
{
	unsigned	total = 0, x;
	size_t		d;

	for (d = 0; d < cat_ndepartments; d++)
		total += cat_departments[d].weight;
	x = (unsigned)rng_below(r, total);
	for (d = 0; d < cat_ndepartments - 1; d++) {
		if (x < cat_departments[d].weight)
			break;
		x -= cat_departments[d].weight;
	}
	return (d);
}

size_t
cat_pick_title(struct rng *r, size_t d)
{
	const struct cat_title	*t = cat_departments[d].titles;
	size_t			 n = cat_ntitles(d), i;
	unsigned		 total = 0, x;

	for (i = 0; i < n; i++)
		total += t[i].weight;
	x = (unsigned)rng_below(r, total);
	for (i = 0; i < n - 1; i++) {
		if (x < t[i].weight)
			break;
		x -= t[i].weight;
	}
	return (i);
}

/* Is word w one of the space-separated words of list (empty list: any)? */
static int
word_in(const char *list, const char *w)
{
	size_t		 n = strlen(w);
	const char	*p = list;

	if (*list == '\0')
		return (1);
	while ((p = strstr(p, w)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return (1);
		p += n;
	}
	return (0);
}

int
cat_group_matches(size_t g, size_t d, size_t t)
{
	const struct cat_department *dep = &cat_departments[d];

	return (word_in(cat_groups[g].depts, dep->name) &&
	    word_in(cat_groups[g].titles, dep->titles[t].name));
}

size_t
cat_pick_dept_app(struct rng *r, size_t d)
{
	static const char *const choices[][3] = {
		{ "app-github", "app-jira", "app-aws" },		/* engineering */
		{ "app-salesforce", "app-salesforce", "app-zendesk" },	/* sales */
		{ "app-sap", "app-sap", "app-jira" },			/* finance */
		{ "app-jira", "app-jira", "app-jira" },			/* hr */
		{ "app-salesforce", "app-jira", "app-jira" },		/* marketing */
		{ "app-zendesk", "app-zendesk", "app-jira" },		/* support */
		{ "app-jira", "app-jira", "app-jira" },			/* legal */
		{ "app-aws", "app-jira", "app-github" },		/* it */
		{ "app-sap", "app-jira", "app-jira" },			/* operations */
	};

	return ((size_t)cat_app_index(choices[d][rng_below(r, 3)]));
}
